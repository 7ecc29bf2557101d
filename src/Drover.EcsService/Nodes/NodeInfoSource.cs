using System.Net;
using Drover.Contracts;
using Drover.EcsService.Jobs;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.EcsService.Nodes;

/// <summary>What this node says about itself in <c>/processor/info</c> and its heartbeats: the cluster, at this service's address.</summary>
internal sealed class NodeInfoSource(EcsJobs jobs, IOptions<EcsNodeServiceOptions> options, IServer server)
{
    private readonly Lazy<string> _hostname = new(Dns.GetHostName);

    public NodeInfo Current()
    {
        var features = new List<string> { NodeFeatures.LogFollow, NodeFeatures.Slots };
        var schedulers = options.Value.Schedulers();
        if (schedulers.Count > 0)
            features.Add(NodeFeatures.Push);
        var info = jobs.Cluster.Info(jobs.Running);
        // backend=ecs names the scheduler's in-process ECS nodes, which have no node-protocol address (the gateway
        // answers 409 for them); this service is a node-protocol server like any other.
        var labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal) { ["backend"] = "ecs-node" };
        return info with
        {
            Labels = labels,
            Hostname = _hostname.Value,
            Uri = (options.Value.AdvertiseUri?.ToString()
                   ?? server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "").TrimEnd('/'),
            Features = features,
            SchedulerUrls = schedulers.Count > 0 ? [.. schedulers.Select(s => s.ToString())] : null,
        };
    }
}

internal static class InfoApi
{
    public static RouteGroupBuilder MapInfoApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/processor").WithTags("Node");
        group.MapGet("/info", (NodeInfoSource info) => TypedResults.Ok(info.Current()))
            .WithSummary("Describe this node")
            .WithDescription("The ECS cluster as a node: its name, labels (backend=ecs, region, cluster), slots, running jobs and protocol features.");
        return group;
    }
}
