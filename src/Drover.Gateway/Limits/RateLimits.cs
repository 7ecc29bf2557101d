using System.Globalization;
using System.Threading.RateLimiting;
using Drover.Gateway.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.RateLimiting;

namespace Drover.Gateway.Limits;

/// <summary>A token bucket per caller: per API key (or job), or per remote address when the caller has no key.</summary>
internal static class RateLimits
{
    public const string PerCaller = "per-caller";

    public static IServiceCollection AddCallerRateLimits(this IServiceCollection services) =>
        services.AddRateLimiter(o =>
        {
            o.AddPolicy(PerCaller, context =>
            {
                var keys = context.RequestServices.GetRequiredService<ApiKeyRing>();
                // The key's limits are looked up only when its bucket is made (once per caller), not on every request.
                return RateLimitPartition.GetTokenBucketLimiter(ApiKeyAuthenticationHandler.PartitionOf(context), partition =>
                {
                    var (perSecond, burst) = partition.StartsWith("key:", StringComparison.Ordinal)
                        ? keys.LimitsFor(partition["key:".Length..])
                        : (keys.Defaults.PermitsPerSecond, keys.Defaults.Burst);
                    return new TokenBucketRateLimiterOptions
                    {
                        TokenLimit = burst,
                        TokensPerPeriod = perSecond,
                        ReplenishmentPeriod = TimeSpan.FromSeconds(1),
                        QueueLimit = 0,
                        AutoReplenishment = true,
                    };
                });
            });
            o.OnRejected = async (rejected, cancellationToken) =>
            {
                var wait = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
                var seconds = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds));
                rejected.HttpContext.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
                await Results.Problem(
                    statusCode: StatusCodes.Status429TooManyRequests,
                    title: "Too many requests",
                    detail: $"This caller's rate limit is used up; retry after {seconds} s.")
                    .ExecuteAsync(rejected.HttpContext);
            };
        });
}
