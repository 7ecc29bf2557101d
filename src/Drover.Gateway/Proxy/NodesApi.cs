using System.Net.Http.Headers;
using Drover.Gateway.Auth;
using Drover.Gateway.Limits;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Drover.Gateway.Proxy;

/// <summary>
/// <c>/nodes/{name}/processor/*</c>: the node protocol of any node the scheduler knows, by name. The destination is
/// only known per request, so this route uses YARP's <see cref="IHttpForwarder"/> directly rather than a cluster.
/// </summary>
internal static class NodesApi
{
    public static IServiceCollection AddNodesProxy(this IServiceCollection services)
    {
        services.AddHttpForwarder();
        services.AddSingleton<NodeDirectory>();
        services.AddSingleton(sp => sp.GetRequiredService<IForwarderHttpClientFactory>()
            .CreateClient(new ForwarderHttpClientContext { NewConfig = HttpClientConfig.Empty }));
        return services;
    }

    public static IEndpointConventionBuilder MapNodesApi(this IEndpointRouteBuilder app) =>
        // The node protocol has GET and POST calls only; naming them puts the route in the gateway's OpenAPI document.
        app.MapMethods("/nodes/{name}/processor/{**rest}", [HttpMethods.Get, HttpMethods.Post], ForwardAsync)
            .RequireAuthorization(GatewayRoles.AccessPolicy)
            .RequireRateLimiting(RateLimits.PerCaller)
            .WithTags("Nodes")
            .WithSummary("The node protocol of the node named {name}")
            .WithDescription("Forwards /nodes/{name}/processor/... to /processor/... on the node the scheduler registered under that name (admin only). An unknown name is a 404; an ECS node (label backend=ecs), which has no processor API, a 409.");

    private static async Task ForwardAsync(
        HttpContext context, string name, NodeDirectory nodes, IHttpForwarder forwarder, HttpMessageInvoker client, IOptions<GatewayOptions> options)
    {
        NodeLocation? node;
        try
        {
            node = await nodes.FindAsync(name, context.RequestAborted);
        }
        catch (HttpRequestException e)
        {
            await Results.Problem(
                statusCode: StatusCodes.Status503ServiceUnavailable,
                title: "Service unavailable",
                detail: $"The scheduler, which knows where nodes are, cannot be asked: {e.Message}").ExecuteAsync(context);
            return;
        }
        if (node is null)
        {
            await Results.Problem(
                statusCode: StatusCodes.Status404NotFound,
                title: "Unknown node",
                detail: $"No node named '{name}' is registered with the scheduler (see GET /scheduler/nodes).").ExecuteAsync(context);
            return;
        }
        if (node.Address is not { } address)
        {
            await Results.Problem(
                statusCode: StatusCodes.Status409Conflict,
                title: "Not a Processor",
                detail: $"Node '{name}' is an ECS node (backend={node.Backend}): its jobs run as ECS tasks and it has no processor API. " +
                    "Its jobs, their status and logs are at /scheduler/jobs/{id}.",
                extensions: new Dictionary<string, object?>
                {
                    ["backend"] = node.Backend,
                    ["errors"] = new Dictionary<string, string[]> { ["name"] = [$"'{name}' is an ECS node, without a processor API"] },
                }).ExecuteAsync(context);
            return;
        }

        var transformer = new NodeTransformer(NodePath(context.Request.Path), options.Value.TokenForNodes);
        var error = await forwarder.SendAsync(context, address, client, ProxyRoutes.RequestConfig(options.Value), transformer);
        if (error != ForwarderError.None)
            await ForwarderProblems.WriteAsync(context);
    }

    // "/nodes/{name}/processor/jobs/1/log" -> "/processor/jobs/1/log": cut the first two segments of the path as it came.
    private static PathString NodePath(PathString path)
    {
        var value = path.Value!;
        var second = value.IndexOf('/', value.IndexOf('/', 1) + 1);
        return new PathString(value[second..]);
    }

    private sealed class NodeTransformer(PathString path, string? token) : HttpTransformer
    {
        public override async ValueTask TransformRequestAsync(
            HttpContext httpContext, HttpRequestMessage proxyRequest, string destinationPrefix, CancellationToken cancellationToken)
        {
            await base.TransformRequestAsync(httpContext, proxyRequest, destinationPrefix, cancellationToken);
            proxyRequest.RequestUri = RequestUtilities.MakeDestinationAddress(destinationPrefix, path, httpContext.Request.QueryString);
            proxyRequest.Headers.Host = null; // the node's own authority, as for the routes YARP configures
            proxyRequest.Headers.Authorization = token is { Length: > 0 } ? new AuthenticationHeaderValue("Bearer", token) : null;
            ProxyRoutes.DropBrowserHeaders(proxyRequest);
        }
    }
}
