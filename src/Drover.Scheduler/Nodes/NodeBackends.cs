using Drover.Contracts;

namespace Drover.Scheduler.Nodes;

/// <summary>
/// The backend for each node, picked by the node's <see cref="NodeKind"/>: callers hold this one seam and never need
/// to know what kind of node an attempt is on.
/// </summary>
internal sealed class NodeBackends(ProcessorNodeBackend processors, EcsNodeBackend ecs) : INodeBackend
{
    private INodeBackend For(NodeTarget node) => node.Kind switch
    {
        NodeKind.Ecs => ecs,
        _ => processors,
    };

    public Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken) =>
        For(node).GetInfoAsync(node, cancellationToken);

    public Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken) =>
        For(node).StartAsync(node, request, files, cancellationToken);

    public Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<NodeAttempt> attempts, CancellationToken cancellationToken) =>
        For(node).GetStatusAsync(node, attempts, cancellationToken);

    public Task<NodeJobStatus?> KillAsync(NodeTarget node, NodeAttempt attempt, CancellationToken cancellationToken) =>
        For(node).KillAsync(node, attempt, cancellationToken);

    public Task<Stream?> OpenLogAsync(NodeTarget node, NodeAttempt attempt, long offset, bool follow, CancellationToken cancellationToken) =>
        For(node).OpenLogAsync(node, attempt, offset, follow, cancellationToken);
}
