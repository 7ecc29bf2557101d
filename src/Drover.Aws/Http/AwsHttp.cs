using System.Net;
using Amazon;
using Amazon.Runtime;
using Amazon.Runtime.Credentials;
using Amazon.Runtime.Signing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Drover.Aws.Http;

/// <summary>
/// The HTTP client every AWS call goes through. Order matters: the retry handler sits outside the SigV4
/// signing handler, so every attempt is signed anew with a fresh timestamp; the transport follows no
/// redirects, since a followed redirect would go out with a signature made for another URL.
/// </summary>
public static class AwsHttp
{
    public const string ClientName = "drover-aws";

    public static IHttpClientBuilder AddAwsHttpClient(this IServiceCollection services)
    {
        var builder = services.AddHttpClient(ClientName);
        builder.ConfigurePrimaryHttpMessageHandler(provider =>
        {
            var options = provider.GetRequiredService<IOptions<AwsOptions>>().Value;
            var transport = new SocketsHttpHandler
            {
                AllowAutoRedirect = false,
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            };
            // Region and service are set on each request (AwsJsonProtocol); these are only defaults.
            return new SigV4SigningHandler(Credentials(options), RegionEndpoint.USEast1, "ecs", transport);
        });
        builder.AddResilienceHandler("aws-retry", (pipeline, context) =>
        {
            var options = context.ServiceProvider.GetRequiredService<IOptions<AwsOptions>>().Value;
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = Math.Max(1, options.MaxRetries),
                Delay = options.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                ShouldHandle = args => options.MaxRetries == 0 ? ValueTask.FromResult(false) : ShouldRetry(args.Outcome),
            });
            // Inside the retry: a call stuck on a dead connection is given up and tried again, not waited on forever.
            pipeline.AddTimeout(options.AttemptTimeout);
        });
        return builder;
    }

    /// <summary>5xx, 429, timeouts and broken connections; and a 400 whose <c>__type</c> says throttling.</summary>
    internal static async ValueTask<bool> ShouldRetry(Outcome<HttpResponseMessage> outcome)
    {
        if (HttpClientResiliencePredicates.IsTransient(outcome))
            return true;
        if (outcome.Result is not { StatusCode: HttpStatusCode.BadRequest } response)
            return false;
        var body = await response.Content.ReadAsByteArrayAsync();
        var type = AwsJsonProtocol.ParseError(body).Type;
        if (type is null && response.Headers.TryGetValues("x-amzn-ErrorType", out var values))
            type = values.FirstOrDefault()?.Split(':')[0];
        return type is not null && AwsServiceException.IsThrottling(type);
    }

    /// <summary>Explicit keys when configured, else the standard chain, resolved on first use rather than at start.</summary>
    internal static AWSCredentials Credentials(AwsOptions options)
    {
        if (string.IsNullOrEmpty(options.AccessKeyId))
            return new DeferredCredentials();
        return string.IsNullOrEmpty(options.SessionToken)
            ? new BasicAWSCredentials(options.AccessKeyId, options.SecretAccessKey)
            : new SessionAWSCredentials(options.AccessKeyId, options.SecretAccessKey, options.SessionToken);
    }

    /// <summary>
    /// The default chain can take seconds (instance metadata) or fail (no credentials anywhere); resolving it
    /// lazily keeps that out of startup and turns a failure into an error of the first call, shown in the node's health.
    /// </summary>
    private sealed class DeferredCredentials : AWSCredentials
    {
        private readonly Lazy<AWSCredentials> _resolved = new(
            () => new DefaultAWSCredentialsIdentityResolver().ResolveIdentity(null),
            LazyThreadSafetyMode.PublicationOnly); // a failure is tried again on the next call, not cached

        public override ImmutableCredentials GetCredentials() => _resolved.Value.GetCredentials();

        public override Task<ImmutableCredentials> GetCredentialsAsync() => _resolved.Value.GetCredentialsAsync();
    }
}
