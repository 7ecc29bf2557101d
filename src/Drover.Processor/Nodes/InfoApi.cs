using Microsoft.AspNetCore.Http.HttpResults;
using Drover.Contracts;

namespace Drover.Processor.Nodes;

internal static class InfoApi
{
    public static RouteGroupBuilder MapInfoApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/processor").WithTags("Node");
        group.MapGet("/info", GetInfo);
        return group;
    }

    private static Ok<NodeInfo> GetInfo(NodeInfoSource info) => TypedResults.Ok(info.Current());
}
