using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Drover.Gateway.Limits;

/// <summary>
/// Refusals made before anything is routed or forwarded: a request target that tries to leave its route, and a body
/// whose declared length is over the limit. Kestrel removes dot segments (after decoding <c>%2e</c>) before routing,
/// so <c>/scheduler/../processor/info</c> would quietly become <c>/processor/info</c> and reach a route the caller
/// never named; the raw target is checked instead, and such a request is an error, not a redirect.
/// </summary>
internal static class RequestGuards
{
    public static IApplicationBuilder UseRequestGuards(this IApplicationBuilder app) => app.Use(async (context, next) =>
    {
        var raw = context.Features.Get<IHttpRequestFeature>()?.RawTarget ?? context.Request.Path.Value ?? "";
        if (EscapingSegment(raw) is { } why)
        {
            await Results.Problem(
                statusCode: StatusCodes.Status400BadRequest,
                title: "The path is not allowed",
                detail: $"The request path {why}; name the route directly, e.g. /scheduler/jobs.")
                .ExecuteAsync(context);
            return;
        }

        var limit = context.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBodySize;
        if (context.Request.ContentLength > limit)
        {
            // The body is not read: the connection is closed after the answer rather than draining a huge upload.
            context.Response.Headers.Connection = "close";
            await TooLarge(context, limit);
            return;
        }
        await next(context);
    });

    public static Task TooLarge(HttpContext context, long limit) =>
        Results.Problem(
            statusCode: StatusCodes.Status413PayloadTooLarge,
            title: "The request body is too large",
            detail: $"This gateway accepts request bodies up to {limit} bytes (Gateway:MaxRequestBodySize).")
            .ExecuteAsync(context);

    /// <summary>Why the raw path would escape its route, or null when it is a plain path.</summary>
    internal static string? EscapingSegment(string rawTarget)
    {
        var path = rawTarget;
        var query = path.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
            path = path[..query];
        // Absolute-form targets (GET http://host/path) carry the path after the authority.
        var scheme = path.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            var slash = path.IndexOf('/', scheme + 3);
            path = slash >= 0 ? path[slash..] : "/";
        }
        if (path.Contains('\\', StringComparison.Ordinal))
            return "contains a backslash";
        // The common case, checked without splitting: no escape to decode and no segment that starts with a dot.
        if (!path.Contains('%', StringComparison.Ordinal) && !path.Contains("/.", StringComparison.Ordinal))
            return null;
        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0)
                continue;
            var decoded = Uri.UnescapeDataString(segment);
            if (decoded is "." or "..")
                return "has a '.' or '..' segment";
            if (decoded.Contains('/', StringComparison.Ordinal) || decoded.Contains('\\', StringComparison.Ordinal))
                return "has an encoded slash";
            if (decoded.Contains('\0', StringComparison.Ordinal))
                return "has an encoded NUL";
        }
        return null;
    }
}
