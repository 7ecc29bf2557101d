using System.Net;
using System.Net.Http.Headers;
using Drover.Gateway.Auth;
using Drover.Gateway.Limits;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Transforms;

namespace Drover.Gateway.Proxy;

/// <summary>
/// The static routes, built in code from <see cref="GatewayOptions"/>: <c>/scheduler/*</c> to the scheduler cluster,
/// <c>/processor/*</c> to the local Processor, and the two services' OpenAPI documents for the one Swagger UI.
/// </summary>
internal static class ProxyRoutes
{
    public const string SchedulerCluster = "scheduler";
    public const string ProcessorCluster = "processor";
    public const string SchedulerDocument = "/openapi/scheduler.json";
    public const string ProcessorDocument = "/openapi/processor.json";
    private const string DocumentMetadata = "drover-document";

    public static IServiceCollection AddProxyRoutes(this IServiceCollection services)
    {
        services.AddSingleton<IForwarderHttpClientFactory, GatewayHttpClientFactory>();
        // Built from the options when the proxy first asks, so that they are bound and validated like any other.
        services.AddSingleton<IProxyConfigProvider>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<GatewayOptions>>().Value;
            return new InMemoryConfigProvider(Routes(options), Clusters(options));
        });
        services.AddReverseProxy()
            .AddTransforms(context =>
            {
                var options = context.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
                var token = context.Route.ClusterId switch
                {
                    SchedulerCluster => options.SchedulerToken,
                    ProcessorCluster => options.ProcessorToken,
                    _ => null,
                };
                context.AddRequestTransform(transform =>
                {
                    ReplaceCallerToken(transform.HttpContext, transform.ProxyRequest, token);
                    DropBrowserHeaders(transform.ProxyRequest);
                    return ValueTask.CompletedTask;
                });
                if (context.Route.Metadata?.ContainsKey(DocumentMetadata) == true && !options.IsOpen)
                    context.AddResponseTransform(ApiDocuments.AddBearerSchemeAsync);
            });
        return services;
    }

    /// <summary>
    /// The caller's key stops at the gateway; upstream sees the service token. A job token is the exception: it goes on
    /// unchanged so the scheduler can tell which job is calling (and verifies the token itself).
    /// </summary>
    public static void ReplaceCallerToken(HttpContext context, HttpRequestMessage upstream, string? serviceToken)
    {
        if (context.User.HasClaim(ApiKeyAuthenticationHandler.ForwardOwnTokenClaim, "true"))
            return;
        upstream.Headers.Authorization = serviceToken is { Length: > 0 } ? new AuthenticationHeaderValue("Bearer", serviceToken) : null;
    }

    /// <summary>
    /// The gateway checked where a browser's request came from (<see cref="BrowserProtection"/>); upstream the request is
    /// the gateway's own, and the page's origin (the gateway's) would look foreign to a service at another address.
    /// </summary>
    public static void DropBrowserHeaders(HttpRequestMessage upstream)
    {
        ArgumentNullException.ThrowIfNull(upstream);
        foreach (var header in BrowserHeaders)
            upstream.Headers.Remove(header);
    }

    private static readonly string[] BrowserHeaders = ["Origin", "Sec-Fetch-Site", "Sec-Fetch-Mode", "Sec-Fetch-Dest", "Sec-Fetch-User"];

    private static List<RouteConfig> Routes(GatewayOptions options)
    {
        var routes = new List<RouteConfig>
        {
            Proxied("scheduler", SchedulerCluster, "/scheduler/{**rest}"),
            Document("scheduler-openapi", SchedulerCluster, SchedulerDocument),
        };
        if (options.ProcessorUrl is not null)
        {
            routes.Add(Proxied("processor", ProcessorCluster, "/processor/{**rest}"));
            routes.Add(Document("processor-openapi", ProcessorCluster, ProcessorDocument));
        }
        return routes;
    }

    private static RouteConfig Proxied(string id, string cluster, string path) => new()
    {
        RouteId = id,
        ClusterId = cluster,
        Match = new RouteMatch { Path = path },
        AuthorizationPolicy = GatewayRoles.AccessPolicy,
        RateLimiterPolicy = RateLimits.PerCaller,
    };

    // The documents are public, so a browser's Swagger UI can load them; the original Host goes upstream so that the
    // document names the gateway as its server and "Try it out" calls come back through here.
    private static RouteConfig Document(string id, string cluster, string path) => new RouteConfig
    {
        RouteId = id,
        ClusterId = cluster,
        Match = new RouteMatch { Path = path, Methods = ["GET", "HEAD"] },
        RateLimiterPolicy = RateLimits.PerCaller,
        Metadata = new Dictionary<string, string> { [DocumentMetadata] = "true" },
    }.WithTransformPathSet("/openapi/v1.json").WithTransformUseOriginalHostHeader();

    private static List<ClusterConfig> Clusters(GatewayOptions options)
    {
        var request = RequestConfig(options);
        var clusters = new List<ClusterConfig>
        {
            new()
            {
                ClusterId = SchedulerCluster,
                Destinations = options.SchedulerUrls.Select((url, i) => (url, i))
                    .ToDictionary(d => $"scheduler-{d.i}", d => new DestinationConfig { Address = d.url }),
                HealthCheck = new HealthCheckConfig
                {
                    Active = new ActiveHealthCheckConfig
                    {
                        Enabled = true,
                        Interval = options.HealthCheckInterval,
                        Timeout = TimeSpan.FromSeconds(Math.Min(5, options.HealthCheckInterval.TotalSeconds)),
                        Policy = HealthCheckConstants.ActivePolicy.ConsecutiveFailures,
                        Path = "/healthz",
                    },
                },
                HttpRequest = request,
            },
        };
        if (options.ProcessorUrl is { } processor)
        {
            clusters.Add(new ClusterConfig
            {
                ClusterId = ProcessorCluster,
                Destinations = new Dictionary<string, DestinationConfig> { ["processor"] = new() { Address = processor.ToString() } },
                HttpRequest = request,
            });
        }
        return clusters;
    }

    public static ForwarderRequestConfig RequestConfig(GatewayOptions options) => new()
    {
        ActivityTimeout = options.UpstreamIdleTimeout,
        // The services speak plain HTTP/1.1 on loopback or a private network; asking for HTTP/2 first only costs a probe.
        Version = HttpVersion.Version11,
        VersionPolicy = HttpVersionPolicy.RequestVersionOrLower,
    };
}

/// <summary>YARP's client, with a short connect timeout so that a backend that is down answers 502 quickly, not a hang.</summary>
internal sealed class GatewayHttpClientFactory : ForwarderHttpClientFactory
{
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(5);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        base.ConfigureHandler(context, handler);
        handler.ConnectTimeout = ConnectTimeout;
    }
}
