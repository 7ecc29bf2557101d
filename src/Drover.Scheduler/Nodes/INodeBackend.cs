using Drover.Contracts;

namespace Drover.Scheduler.Nodes;

/// <summary>What speaks for a node: a backend each, chosen by <see cref="NodeBackends"/>.</summary>
public enum NodeKind
{
    /// <summary>Anything that speaks the node protocol (docs/node-protocol.md): a Processor, the shell node, the ECS node service.</summary>
    Processor,

    /// <summary>An ECS cluster called through the AWS API (<c>Aws:EcsNodes</c>).</summary>
    Ecs,
}

/// <summary>Where a node is, how to authenticate to it, and what speaks for it.</summary>
public sealed record NodeTarget(string Name, Uri Uri, string? Token, NodeKind Kind = NodeKind.Processor);

/// <summary>
/// An attempt as its node knows it: the scheduler's request id, and the node's own reference of it when the node made
/// one (an ECS task ARN, returned by the start and kept in the store with the attempt). A backend that has to look
/// the reference up (the start's answer was lost) sets <see cref="NodeRef"/>, and the caller saves what was learnt.
/// </summary>
public sealed class NodeAttempt(string requestId, string? nodeRef = null)
{
    public string RequestId { get; } = requestId;
    public string? NodeRef { get; set; } = nodeRef;
}

public enum StartOutcome
{
    /// <summary>The node recorded the job (now or before: starts are idempotent by request id).</summary>
    Started,

    /// <summary>The node is full (429): nothing was recorded.</summary>
    Busy,

    /// <summary>The node refused the job as invalid: it will never run there.</summary>
    Rejected,

    /// <summary>The request certainly did not reach the node (no connection, open circuit).</summary>
    NotDelivered,

    /// <summary>The request may or may not have reached the node (timeout, broken connection): ask it later.</summary>
    Unknown,
}

/// <summary>What came of a start; <see cref="NodeRef"/> is the node's own name for the attempt, for the store to keep.</summary>
public sealed record StartResult(StartOutcome Outcome, NodeJobStatus? Status = null, string? Detail = null, string? NodeRef = null);

/// <summary>A node could not be asked (connection refused, timeout, 5xx, open circuit).</summary>
public sealed class NodeUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// The one seam between the scheduler and where work runs: one implementation per <see cref="NodeKind"/>. A backend
/// only talks to nodes; what it learns for the store (a node reference) it returns, and the caller saves.
/// </summary>
public interface INodeBackend
{
    Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken);

    /// <summary>Starts a job; <paramref name="files"/> are paths of files that must land in its working directory.</summary>
    Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken);

    /// <summary>The status of these jobs in one call; jobs the node does not know are left out.</summary>
    Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<NodeAttempt> attempts, CancellationToken cancellationToken);

    /// <summary>Kills a job's processes; its status afterwards, or null when the node does not know it.</summary>
    Task<NodeJobStatus?> KillAsync(NodeTarget node, NodeAttempt attempt, CancellationToken cancellationToken);

    /// <summary>The job's log from <paramref name="offset"/>; with <paramref name="follow"/> the stream stays open until the job stops. Null when unknown.</summary>
    Task<Stream?> OpenLogAsync(NodeTarget node, NodeAttempt attempt, long offset, bool follow, CancellationToken cancellationToken);
}
