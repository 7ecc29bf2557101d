using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Drover.ServiceDefaults;

/// <summary>
/// The service token: with one configured, every call but <c>/healthz</c> needs <c>Authorization: Bearer &lt;token&gt;</c>.
/// A service that runs commands must not be reachable off-box without one, so it refuses to start that way.
/// </summary>
public static class Security
{
    /// <param name="app">The service's pipeline.</param>
    /// <param name="token">The service token; none configured lets every call through.</param>
    /// <param name="admittedEarlier">Calls an earlier middleware already admitted by other means (the scheduler's job tokens).</param>
    public static IApplicationBuilder UseServiceToken(this IApplicationBuilder app, string? token, Func<HttpContext, bool>? admittedEarlier = null)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (string.IsNullOrEmpty(token))
            return app;
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return app.Use(async (context, next) =>
        {
            if (context.Request.Path.StartsWithSegments("/healthz") || admittedEarlier?.Invoke(context) == true
                || IsAuthorized(context.Request, expected))
            {
                await next(context);
                return;
            }
            context.Response.Headers.WWWAuthenticate = "Bearer";
            await Results.Problem(
                statusCode: StatusCodes.Status401Unauthorized,
                title: "Unauthorized",
                detail: "This service needs 'Authorization: Bearer <token>' with its configured token.").ExecuteAsync(context);
        });
    }

    private static bool IsAuthorized(HttpRequest request, byte[] expectedHash) =>
        // Compare hashes in constant time so the token cannot be guessed by timing.
        BearerToken(request) is { } given
        && CryptographicOperations.FixedTimeEquals(SHA256.HashData(Encoding.UTF8.GetBytes(given)), expectedHash);

    /// <summary>The token of an <c>Authorization: Bearer</c> header, or null.</summary>
    public static string? BearerToken(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;
    }

    /// <summary>
    /// Throws when the service would listen beyond loopback and no token protects it. Every way Kestrel can be told
    /// where to listen is looked at: <c>urls</c> (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, <c>DOTNET_URLS</c>), the
    /// <c>http_ports</c>/<c>https_ports</c> that bind every interface when no <c>urls</c> are set, and each
    /// <c>Kestrel:Endpoints:*:Url</c>, which replace all of those.
    /// </summary>
    public static void RequireTokenOffLoopback(IConfiguration configuration, string? token, string service)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (!string.IsNullOrEmpty(token))
            return;
        var open = ListenAddresses(configuration).Where(u => !IsLoopback(u)).ToList();
        if (open.Count > 0)
            throw new InvalidOperationException(
                $"{service} would listen on {string.Join(", ", open)} without a token: configure a token, or bind to 127.0.0.1.");
    }

    /// <summary>Every address the configuration tells Kestrel to listen on.</summary>
    public static IReadOnlyList<string> ListenAddresses(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var addresses = new List<string>();
        addresses.AddRange(configuration.GetSection("Kestrel:Endpoints").GetChildren()
            .Select(e => e["Url"]).OfType<string>().Where(u => u.Length > 0));
        addresses.AddRange(Split(configuration["urls"]));
        // Kestrel uses the ports only when no urls are given; they listen on every interface.
        if (Split(configuration["urls"]).Count == 0)
        {
            addresses.AddRange(Split(configuration["http_ports"]).Select(p => $"http://*:{p}"));
            addresses.AddRange(Split(configuration["https_ports"]).Select(p => $"https://*:{p}"));
        }
        return addresses;
    }

    /// <summary>Whether any configured address reaches beyond this machine's loopback.</summary>
    public static bool ListensBeyondLoopback(IConfiguration configuration) => ListenAddresses(configuration).Any(u => !IsLoopback(u));

    private static List<string> Split(string? value) =>
        [.. (value ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];

    private static bool IsLoopback(string url)
    {
        var host = url.Split("://", 2) is [_, var rest] ? rest : url;
        // A Unix domain socket (http://unix:/run/drover.sock) is reached from this machine only.
        if (host.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
            return true;
        host = host.StartsWith('[') ? host[1..host.IndexOf(']', StringComparison.Ordinal)] : host.Split(':')[0].Split('/')[0];
        return IsLoopbackHost(host);
    }

    /// <summary>A loopback name or address: <c>localhost</c> (and names under it), 127.0.0.0/8, ::1.</summary>
    public static bool IsLoopbackHost(string host)
    {
        ArgumentNullException.ThrowIfNull(host);
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || host.EndsWith(".localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }
}
