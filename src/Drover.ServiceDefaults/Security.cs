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

    /// <summary>Throws when the configured addresses reach beyond loopback and no token protects them.</summary>
    public static void RequireTokenOffLoopback(IConfiguration configuration, string? token, string service)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (!string.IsNullOrEmpty(token))
            return;
        var urls = (configuration["urls"] ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var open = urls.Where(u => !IsLoopback(u)).ToList();
        if (open.Count > 0)
            throw new InvalidOperationException(
                $"{service} would listen on {string.Join(", ", open)} without a token: configure a token, or bind to 127.0.0.1.");
    }

    private static bool IsLoopback(string url)
    {
        var host = url.Split("://", 2) is [_, var rest] ? rest : url;
        host = host.StartsWith('[') ? host[1..host.IndexOf(']', StringComparison.Ordinal)] : host.Split(':')[0].Split('/')[0];
        return host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(host, out var address) && IPAddress.IsLoopback(address));
    }
}
