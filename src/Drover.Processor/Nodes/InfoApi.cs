using Microsoft.AspNetCore.Http.HttpResults;
using Drover.Contracts;

namespace Drover.Processor.Nodes;

internal static class InfoApi
{
    public static RouteGroupBuilder MapInfoApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/processor").WithTags("Node");
        group.MapGet("/info", GetInfo)
            .WithSummary("Describe this node")
            .WithDescription("The node's name, address, IPv4 addresses, hostname, labels, slots, running jobs and the protocol features it supports.");
        return group;
    }

    private static Ok<NodeInfo> GetInfo(NodeInfoSource info) => TypedResults.Ok(info.Current());
}
