using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;

namespace Drover.ServiceDefaults;

/// <summary>
/// Keeps web pages from using a Drover service through the browser of someone who can reach it:
/// <list type="bullet">
/// <item>A state-changing request (any method but GET, HEAD, OPTIONS, TRACE) that a browser sent for another site
/// is refused with 403: its <c>Origin</c> is not the service's own (nor in <c>Security:AllowedOrigins</c>), or its
/// <c>Sec-Fetch-Site</c> is <c>cross-site</c>. Browsers cannot leave these headers out or forge them; curl and
/// the services' own clients send neither, and pass as before.</item>
/// <item>A <c>Host</c> outside the allow-list is refused with 421, so that a page on a name re-pointed at 127.0.0.1
/// (DNS rebinding) is not served. The list is loopback names and addresses plus <c>Security:AllowedHosts</c>.
/// A service that needs a token on every call admits any host unless <c>Security:AllowedHosts</c> is set: a page
/// cannot send the token, so a re-pointed name reaches nothing but the refusal.</item>
/// </list>
/// </summary>
public static class BrowserProtection
{
    public const string Section = "Security";

    /// <param name="app">The service's pipeline; call this before anything that answers.</param>
    /// <param name="credentialRequired">Every call but <c>/healthz</c> needs a token or key.</param>
    public static IApplicationBuilder UseBrowserProtection(this IApplicationBuilder app, IConfiguration configuration, bool credentialRequired)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(configuration);
        var configuredHosts = Values(configuration, $"{Section}:AllowedHosts");
        var hosts = new HostAllowList(configuredHosts, anyHost: credentialRequired && configuredHosts.Count == 0);
        var origins = new HashSet<string>(
            Values(configuration, $"{Section}:AllowedOrigins").Select(o => o.TrimEnd('/')), StringComparer.OrdinalIgnoreCase);
        return app.Use(async (context, next) =>
        {
            var request = context.Request;
            if (!hosts.Admits(request.Host))
            {
                await Results.Problem(
                    statusCode: StatusCodes.Status421MisdirectedRequest,
                    title: "Unknown host",
                    detail: $"This service does not answer to the host '{request.Host}'. Call it by a loopback address "
                        + $"(127.0.0.1, localhost), or add the name to {Section}:AllowedHosts.").ExecuteAsync(context);
                return;
            }
            if (ChangesState(request.Method) && CrossSite(request, origins) is { } why)
            {
                await Results.Problem(
                    statusCode: StatusCodes.Status403Forbidden,
                    title: "Cross-site request refused",
                    detail: $"{why}: a web page of another site may not change anything here. Clients that are not "
                        + $"browsers send no Origin; a page served elsewhere needs its origin in {Section}:AllowedOrigins.").ExecuteAsync(context);
                return;
            }
            await next(context);
        });
    }

    private static bool ChangesState(string method) =>
        !(HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method) || HttpMethods.IsTrace(method));

    /// <summary>Why a request came from a page of another site, or null when it did not (or is no browser's).</summary>
    internal static string? CrossSite(HttpRequest request, IReadOnlySet<string> allowedOrigins)
    {
        var origin = request.Headers.Origin.ToString();
        if (origin.Length > 0)
        {
            if (allowedOrigins.Contains(origin))
                return null;
            if (!SameOrigin(origin, request.Host))
                return $"the request comes from the origin '{origin}', not from this service ({request.Scheme}://{request.Host})";
        }
        var site = request.Headers["Sec-Fetch-Site"].ToString();
        return site.Equals("cross-site", StringComparison.OrdinalIgnoreCase)
            ? "the browser says the request is cross-site (Sec-Fetch-Site: cross-site)"
            : null;
    }

    // The scheme is left out on purpose: behind a proxy that ends TLS the service sees http for an https page.
    private static bool SameOrigin(string origin, HostString host) =>
        Uri.TryCreate(origin, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps)
        && host.HasValue && string.Equals(uri.Authority, host.Value, StringComparison.OrdinalIgnoreCase);

    /// <summary>A list setting given as <c>Key:0</c>, <c>Key:1</c>... or as one value separated by <c>;</c> or <c>,</c>.</summary>
    internal static List<string> Values(IConfiguration configuration, string key)
    {
        var section = configuration.GetSection(key);
        var items = section.GetChildren().Select(c => c.Value).OfType<string>().ToList();
        if (section.Value is { } joined)
            items.Add(joined);
        return [.. items.SelectMany(v => v.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];
    }

    private sealed class HostAllowList(IReadOnlyList<string> configured, bool anyHost)
    {
        private readonly bool _any = anyHost || configured.Contains("*");
        private readonly HashSet<string> _names = new(configured.Where(n => !n.StartsWith("*.", StringComparison.Ordinal)), StringComparer.OrdinalIgnoreCase);
        private readonly string[] _suffixes = [.. configured.Where(n => n.StartsWith("*.", StringComparison.Ordinal)).Select(n => n[1..])];

        public bool Admits(HostString host)
        {
            // HTTP/1.0 may send no Host; no browser does.
            if (_any || !host.HasValue)
                return true;
            var name = host.Host;
            if (name.StartsWith('[') && name.EndsWith(']'))
                name = name[1..^1];
            return Security.IsLoopbackHost(name) || _names.Contains(name)
                || _suffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase));
        }
    }
}
