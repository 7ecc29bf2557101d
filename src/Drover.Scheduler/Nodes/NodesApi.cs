using Drover.Contracts;
using Drover.Scheduler.Access;
using Drover.Scheduler.Following;
using Drover.Scheduler.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.Scheduler.Nodes;

/// <summary><c>/scheduler/nodes</c>: the nodes, those available now, drain, and what nodes send (heartbeats, pushed changes).</summary>
internal static class NodesApi
{
    public static RouteGroupBuilder MapNodesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/scheduler/nodes").WithTags("Nodes");
        group.MapGet("/", ListAsync)
            .WithSummary("List nodes")
            .WithDescription("Every known node with its health, drained flag, slots and running jobs, labels, features and last error.");
        group.MapGet("/available", AvailableAsync)
            .WithSummary("List the nodes available now")
            .WithDescription("Nodes a job can go to now: up, not drained, not backing off, with a free slot; ?label=key=value (repeated) and ?node= narrow it. 400 for a label that is not key=value.");
        group.MapGet("/{name}", GetAsync)
            .WithSummary("Get a node")
            .WithDescription("One node as in the list; 404 when there is no such node.");
        group.MapPost("/{name}/drain", (string name, NodeRegistry nodes, IJobStore store, TimeProvider time, CancellationToken ct) => SetDrainedAsync(name, true, nodes, store, time, ct))
            .WithSummary("Drain a node")
            .WithDescription("No new jobs are placed on the node; those it runs carry on. 200 with the node, 404 when there is no such node.");
        group.MapPost("/{name}/undrain", (string name, NodeRegistry nodes, IJobStore store, TimeProvider time, CancellationToken ct) => SetDrainedAsync(name, false, nodes, store, time, ct))
            .WithSummary("Undrain a node")
            .WithDescription("The node takes new jobs again. 200 with the node, 404 when there is no such node.");
        routes.MapPost(NodeRoutes.Heartbeat, HeartbeatAsync).WithTags("Nodes")
            .WithSummary("Node heartbeat (node protocol)")
            .WithDescription("A Processor registers itself, or says it is still up, with its info (name, uri, slots, labels, features). 400 names a bad name or uri; "
                + "403 the caller's node credential is another node's; 409 the name is a configured node's, or the node is up at another address.");
        routes.MapPost(NodeRoutes.PushJobs, PushAsync).WithTags("Nodes")
            .WithSummary("Push job changes (node protocol)")
            .WithDescription("A node sends the statuses of its jobs that changed, so the scheduler need not wait for its next poll; 404 for a node it does not know, "
                + "403 for a push that names an attempt placed on another node (or with another node's credential).");
        return group;
    }

    private static async Task<Ok<NodeViewList>> ListAsync(NodeRegistry nodes, IJobStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var load = await store.CountActiveByNodeAsync(cancellationToken);
        return TypedResults.Ok(new NodeViewList { Nodes = nodes.Snapshot().Select(n => View(n, load)).ToList() });
    }

    /// <summary>Nodes a job can go to now: up, not drained, not backing off, with a free slot; <c>?label=k=v</c> and <c>?node=</c> narrow it.</summary>
    private static async Task<Results<Ok<NodeViewList>, ValidationProblem>> AvailableAsync(
        NodeRegistry nodes, IJobStore store, TimeProvider time, string[]? label, string? node, CancellationToken cancellationToken)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in label ?? [])
        {
            if (pair.Split('=', 2) is [{ Length: > 0 } key, var value])
                labels[key] = value;
            else
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["label"] = [$"'{pair}' is not key=value"] });
        }
        var constraints = new JobConstraints { Node = node, Labels = labels };
        var load = await store.CountActiveByNodeAsync(cancellationToken);
        var now = time.GetUtcNow();
        var available = nodes.Snapshot()
            .Where(n => n.Usable(now) && Placement.PlacementService.Fits(n, constraints) && (n.Slots == 0 || load.GetValueOrDefault(n.Name) < n.Slots))
            .Select(n => View(n, load))
            .ToList();
        return TypedResults.Ok(new NodeViewList { Nodes = available });
    }

    private static async Task<Results<Ok<NodeView>, ProblemHttpResult>> GetAsync(string name, NodeRegistry nodes, IJobStore store, CancellationToken cancellationToken)
    {
        var node = nodes.Find(name);
        return node is null ? UnknownNode(name) : TypedResults.Ok(View(node, await store.CountActiveByNodeAsync(cancellationToken)));
    }

    private static async Task<Results<Ok<NodeView>, ProblemHttpResult>> SetDrainedAsync(
        string name, bool drained, NodeRegistry nodes, IJobStore store, TimeProvider time, CancellationToken cancellationToken)
    {
        var node = await nodes.SetDrainedAsync(name, drained, cancellationToken);
        return node is null ? UnknownNode(name) : TypedResults.Ok(View(node, await store.CountActiveByNodeAsync(cancellationToken)));
    }

    private static async Task<Results<Ok, ValidationProblem, ProblemHttpResult>> HeartbeatAsync(
        NodeInfo info, HttpContext context, NodeRegistry nodes, CancellationToken cancellationToken)
    {
        var problems = new Dictionary<string, string[]>();
        if (!JobRules.IsSafeName(info.Name))
            problems["name"] = ["a node name is letters, digits, '.', '_' or '-'"];
        if (!Uri.TryCreate(info.Uri, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps) || uri.Port == 0)
            problems["uri"] = ["uri is the absolute http(s) address where the node answers the node protocol"];
        if (problems.Count > 0)
            return TypedResults.ValidationProblem(problems);
        if (context.CallerNode() is { } caller && caller != info.Name)
            return Refused(StatusCodes.Status403Forbidden, "Forbidden", "name",
                $"This credential is node '{caller}''s; it may not send a heartbeat for node '{info.Name}'.");
        return await nodes.HeartbeatAsync(info, cancellationToken) switch
        {
            HeartbeatOutcome.Configured => Refused(StatusCodes.Status409Conflict, "The node is configured", "name",
                $"Node '{info.Name}' is configured in the scheduler's options (Scheduler:Nodes); a heartbeat does not change it."),
            HeartbeatOutcome.MovedWhileUp => Refused(StatusCodes.Status409Conflict, "The node is up elsewhere", "uri",
                $"Node '{info.Name}' is up at another address; it may register at a new one only once it has been down for the heartbeat timeout."),
            _ => TypedResults.Ok(),
        };
    }

    private static async Task<Results<Ok, ProblemHttpResult>> PushAsync(string name, NodeJobList list, NodeRegistry nodes, Follower follower, CancellationToken cancellationToken)
    {
        if (nodes.Find(name) is null)
            return UnknownNode(name);
        var foreign = await follower.PushedAsync(name, list, cancellationToken);
        if (foreign.Count > 0)
            return Refused(StatusCodes.Status403Forbidden, "Forbidden", "jobs",
                $"Node '{name}' pushed {string.Join(", ", foreign.Take(5))}, placed on another node; nothing of this push was recorded.");
        return TypedResults.Ok();
    }

    private static ProblemHttpResult Refused(int status, string title, string field, string detail) =>
        TypedResults.Problem(statusCode: status, title: title, detail: detail,
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [detail] } });

    private static ProblemHttpResult UnknownNode(string name) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such node", detail: $"There is no node '{name}'.",
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["name"] = ["unknown node"] } });

    private static NodeView View(NodeSnapshot node, IReadOnlyDictionary<string, int> load) => new()
    {
        Name = node.Name,
        Ipv4 = node.Info?.Ipv4 ?? [],
        Hostname = node.Info?.Hostname ?? node.Target.Uri.Host,
        Uri = node.Target.Uri.ToString().TrimEnd('/'),
        Labels = node.Labels,
        Slots = node.Slots,
        Running = load.GetValueOrDefault(node.Name),
        Health = node.Down ? NodeHealth.Down : NodeHealth.Up,
        Drained = node.Drained,
        Source = node.Source,
        LastSeen = node.LastSeen,
        BackoffUntil = node.BackoffUntil,
        Features = node.Info?.Features ?? [],
        LastError = node.LastError,
    };
}
