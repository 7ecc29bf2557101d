using Drover.Contracts;

namespace Drover.Scheduler.Nodes;

/// <summary>Where a node is and how to authenticate to it.</summary>
public sealed record NodeTarget(string Name, Uri Uri, string? Token);

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

public sealed record StartResult(StartOutcome Outcome, NodeJobStatus? Status = null, string? Detail = null);

/// <summary>A node could not be asked (connection refused, timeout, 5xx, open circuit).</summary>
public sealed class NodeUnreachableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>The one seam between the scheduler and where work runs.</summary>
public interface INodeBackend
{
    Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken);

    /// <summary>Starts a job; <paramref name="files"/> are paths of files that must land in its working directory.</summary>
    Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken);

    /// <summary>The status of these jobs in one call; jobs the node does not know are left out.</summary>
    Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<string> requestIds, CancellationToken cancellationToken);

    /// <summary>Kills a job's processes; its status afterwards, or null when the node does not know it.</summary>
    Task<NodeJobStatus?> KillAsync(NodeTarget node, string requestId, CancellationToken cancellationToken);

    /// <summary>The job's log from <paramref name="offset"/>; with <paramref name="follow"/> the stream stays open until the job stops. Null when unknown.</summary>
    Task<Stream?> OpenLogAsync(NodeTarget node, string requestId, long offset, bool follow, CancellationToken cancellationToken);
}
