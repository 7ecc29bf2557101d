using System.Collections.Frozen;
using System.Reflection;
using System.Security.Cryptography;
using Drover.Gateway.Auth;
using Drover.Gateway.Limits;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Net.Http.Headers;

namespace Drover.Gateway.Dashboard;

/// <summary>
/// The dashboard: its built assets (embedded in this assembly from <c>Dashboard/dist</c>, made by
/// <c>src/Drover.Dashboard/build.sh</c>) and the page of each of its client-side routes. The pages are public, as the
/// sign-in must load without a key; every piece of data they show comes from the API under the caller's own key.
/// Only these exact paths are mapped, so <c>/scheduler/*</c>, <c>/processor/*</c>, <c>/nodes/{name}/processor/*</c>,
/// <c>/swagger</c> and the health endpoints keep their routes.
/// </summary>
internal static class DashboardApi
{
    private const string ResourcePrefix = "dashboard/";

    // Scripts, styles and connections only from this origin; no frames, no plugins, nothing inline.
    private const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    private static readonly string[] Pages = ["/", "/jobs", "/jobs/{id:long}", "/dags/{root:long}", "/nodes", "/queue", "/submit", "/signin"];

    public static IEndpointRouteBuilder MapDashboard(this IEndpointRouteBuilder app)
    {
        var assets = Load();
        var index = assets["index.html"];
        foreach (var page in Pages)
        {
            app.MapMethods(page, [HttpMethods.Get, HttpMethods.Head], (HttpContext context) => Serve(context, index, immutable: false))
                .RequireRateLimiting(RateLimits.PerCaller).ExcludeFromDescription();
        }
        app.MapMethods("/assets/{**file}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string file) =>
                assets.TryGetValue("assets/" + file, out var asset) ? Serve(context, asset, immutable: true) : Results.Problem(
                    statusCode: StatusCodes.Status404NotFound, title: "Not found", detail: $"The dashboard has no asset '{file}'."))
            .RequireRateLimiting(RateLimits.PerCaller).ExcludeFromDescription();
        app.MapGet("/dashboard/session", Session)
            .RequireAuthorization()
            .RequireRateLimiting(RateLimits.PerCaller)
            .WithTags("Dashboard")
            .WithSummary("Who the caller is")
            .WithDescription("The caller's key name and role, and whether the gateway is open (no keys configured): the dashboard signs in with it "
                + "and shows only the buttons the role may use. 401 for a missing or unknown key.");
        return app;
    }

    private static Ok<DashboardSession> Session(HttpContext context, ApiKeyRing keys) =>
        TypedResults.Ok(new DashboardSession(context.User.Identity?.Name ?? "", GatewayRoles.RoleOf(context.User) ?? "", keys.IsOpen));

    private static IResult Serve(HttpContext context, Asset asset, bool immutable)
    {
        var headers = context.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ETag = asset.ETag;
        // Assets carry their content's hash in their names; the page itself is asked for again each time.
        headers.CacheControl = immutable ? "public, max-age=31536000, immutable" : "no-cache";
        if (context.Request.Headers.IfNoneMatch.ToString() == asset.ETag)
            return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Content, asset.ContentType);
    }

    private static FrozenDictionary<string, Asset> Load()
    {
        var assembly = typeof(DashboardApi).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith(ResourcePrefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var content = copy.ToArray();
            var path = name[ResourcePrefix.Length..].Replace('\\', '/');
            assets[path] = new Asset(content, ContentTypeOf(path), $"\"{Convert.ToHexString(SHA256.HashData(content))[..16]}\"");
        }
        if (!assets.ContainsKey("index.html"))
            throw new InvalidOperationException($"The dashboard's assets are missing from {assembly.GetName().Name}: build them with src/Drover.Dashboard/build.sh.");
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentTypeOf(string path) => Path.GetExtension(path) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        ".svg" => "image/svg+xml",
        ".png" => "image/png",
        ".json" => "application/json",
        _ => "application/octet-stream",
    };

    private sealed record Asset(byte[] Content, string ContentType, string ETag);
}

/// <summary><c>GET /dashboard/session</c>: the caller as the gateway sees it.</summary>
internal sealed record DashboardSession(string Name, string Role, bool Open);
