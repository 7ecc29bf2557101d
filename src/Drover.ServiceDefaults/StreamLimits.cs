using System.Collections.Concurrent;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Drover.ServiceDefaults;

/// <summary>
/// Caps the long-lived responses (event streams, followed logs) one caller holds open at once: each holds a
/// connection, a store reader and often a call to a node, so a caller that opens them without end would starve
/// everyone else. Beyond the cap: 429 problem+json with <c>Retry-After</c>.
/// </summary>
public static class StreamLimits
{
    /// <param name="app">The pipeline, after whatever <paramref name="callerOf"/> reads (authentication).</param>
    /// <param name="limit">Streams one caller may hold open at once.</param>
    /// <param name="callerOf">The caller a request counts against, or null for one the cap does not apply to.</param>
    public static IApplicationBuilder UseStreamLimit(this IApplicationBuilder app, int limit, Func<HttpContext, string?> callerOf)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(callerOf);
        var open = new ConcurrentDictionary<string, int>(StringComparer.Ordinal);
        return app.Use(async (context, next) =>
        {
            if (!IsStream(context.Request) || callerOf(context) is not { } caller)
            {
                await next(context);
                return;
            }
            if (open.AddOrUpdate(caller, 1, (_, n) => n + 1) > limit)
            {
                Release(open, caller);
                context.Response.Headers.RetryAfter = "5";
                await Results.Problem(statusCode: StatusCodes.Status429TooManyRequests, title: "Too many open streams",
                    detail: $"This caller already holds {limit} event streams or followed logs open; close one first.").ExecuteAsync(context);
                return;
            }
            try
            {
                await next(context);
            }
            finally
            {
                Release(open, caller);
            }
        });
    }

    /// <summary>An event stream, or a log asked with <c>follow=true</c> (any service's spelling of it, behind any prefix).</summary>
    public static bool IsStream(HttpRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!HttpMethods.IsGet(request.Method))
            return false;
        var path = request.Path.Value ?? "";
        return path.TrimEnd('/').EndsWith("/scheduler/events", StringComparison.OrdinalIgnoreCase)
            || (path.EndsWith("/log", StringComparison.OrdinalIgnoreCase)
                && string.Equals(request.Query["follow"].ToString(), "true", StringComparison.OrdinalIgnoreCase));
    }

    private static void Release(ConcurrentDictionary<string, int> open, string caller)
    {
        // Decrement, and drop the entry at zero so that callers who come and go leave nothing behind.
        while (true)
        {
            var count = open.GetValueOrDefault(caller);
            if (count <= 1)
            {
                if (open.TryRemove(new KeyValuePair<string, int>(caller, count)) || !open.ContainsKey(caller))
                    return;
            }
            else if (open.TryUpdate(caller, count - 1, count))
            {
                return;
            }
        }
    }
}
