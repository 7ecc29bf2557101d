namespace Drover.Contracts;

/// <summary>
/// <c>POST /processor/jobs/new</c>: what a node is asked to run. The seed's body:
/// <c>{"commands": [{"exec": ["curl", "https://example.org/"]}], "environment": {}, "request_id": "123456789"}</c>.
/// </summary>
public sealed record NodeJobRequest
{
    public IReadOnlyList<CommandSpec> Commands { get; init; } = [];
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The caller's idempotency key and the job's name on the node. A node makes one up when it is absent.</summary>
    public string? RequestId { get; init; }

    /// <summary>The node kills the job after this long (reason <c>timed_out</c>).</summary>
    public double? TimeoutSeconds { get; init; }

    /// <summary>
    /// A node that pushes to a scheduler (feature <c>push</c>) kills the job (reason <c>node_lost</c>) once it could not
    /// reach its scheduler for its configured time: the scheduler runs the job elsewhere by then. Others ignore it.
    /// </summary>
    public bool StopWhenDisconnected { get; init; }
}

/// <summary>A job as a node sees it: <c>GET /processor/jobs/{request_id}/status</c>.</summary>
public sealed record NodeJobStatus
{
    public required string RequestId { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public int? ExitCode { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public StopReason? Reason { get; init; }

    /// <summary>The last progress message the job posted to <c>POST .../status</c>.</summary>
    public string? Message { get; init; }
}

/// <summary><c>GET /processor/jobs/status</c> (optionally <c>?request_id=a&amp;request_id=b</c>), and the body of a node's push to the scheduler.</summary>
public sealed record NodeJobList
{
    public IReadOnlyList<NodeJobStatus> Jobs { get; init; } = [];
}

/// <summary>
/// One item's answer to <c>POST /processor/jobs/new</c> with a JSON array of <see cref="NodeJobRequest"/>s (feature
/// <c>batch_start</c>): the answer is an array of these, one per item in order, each what the same item alone would
/// have been answered. <see cref="Status"/> is that HTTP status (201 recorded, 200 recorded before, 400, 429, 507…);
/// <see cref="Job"/> is set for 200 and 201, <see cref="Problem"/> otherwise.
/// </summary>
public sealed record NodeStartAnswer
{
    public int Status { get; init; }
    public NodeJobStatus? Job { get; init; }
    public NodeProblem? Problem { get; init; }
}

/// <summary>An RFC 9457 problem as a node writes it, with <c>errors</c> naming the fields at fault.</summary>
public sealed record NodeProblem
{
    public string? Type { get; init; }
    public string? Title { get; init; }
    public int? Status { get; init; }
    public string? Detail { get; init; }
    public IReadOnlyDictionary<string, string[]>? Errors { get; init; }
}

/// <summary>
/// <c>POST /processor/jobs/status</c> (feature <c>batch_status</c>): the statuses of these jobs, answered as a
/// <see cref="NodeJobList"/> like the GET poll, but with the ids in the body, so one call can ask for many more than fit in a URL.
/// </summary>
public sealed record NodeStatusQuery
{
    public IReadOnlyList<string> RequestIds { get; init; } = [];
}

/// <summary><c>POST /processor/jobs/{request_id}/status</c>: a running job records a progress message.</summary>
public sealed record ProgressMessage
{
    public string? Message { get; init; }
}

/// <summary><c>GET /processor/info</c>, and the body of a node's heartbeat to the scheduler.</summary>
public sealed record NodeInfo
{
    public required string Name { get; init; }
    public string Hostname { get; init; } = "";
    public IReadOnlyList<string> Ipv4 { get; init; } = [];

    /// <summary>Where the node answers the node protocol, e.g. <c>http://10.0.0.5:8082</c>.</summary>
    public string Uri { get; init; } = "";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
    public int Slots { get; init; }
    public int Running { get; init; }

    /// <summary>Optional parts of the node protocol this node offers (see <see cref="NodeFeatures"/>).</summary>
    public IReadOnlyList<string> Features { get; init; } = [];

    /// <summary>How long the node keeps a stopped job (its status and log) before it forgets it; absent: it does not say.</summary>
    public double? JobRetentionSeconds { get; init; }

    /// <summary>The schedulers a node with the feature <c>push</c> registers with; absent: it does not say.</summary>
    public IReadOnlyList<string>? SchedulerUrls { get; init; }
}

/// <summary>Names of the optional parts of the node protocol, announced in <see cref="NodeInfo.Features"/>.</summary>
public static class NodeFeatures
{
    public const string LogFollow = "log_follow";
    public const string Slots = "slots";
    public const string Multipart = "multipart";
    public const string Push = "push";

    /// <summary><c>POST /processor/jobs/new</c> also takes a JSON array of jobs and answers one <see cref="NodeStartAnswer"/> per item.</summary>
    public const string BatchStart = "batch_start";

    /// <summary><c>POST /processor/jobs/status</c> takes a <see cref="NodeStatusQuery"/>.</summary>
    public const string BatchStatus = "batch_status";
}

/// <summary>Limits of the batched calls, which a node that offers them accepts at least.</summary>
public static class NodeBatchLimits
{
    /// <summary>Jobs in one <c>POST /processor/jobs/new</c> array.</summary>
    public const int MaxStartBatch = 256;

    /// <summary>Ids in one <c>POST /processor/jobs/status</c> body.</summary>
    public const int MaxStatusQuery = 1_000;
}

/// <summary>Paths of the calls between nodes and the scheduler, so both sides name them once.</summary>
public static class NodeRoutes
{
    /// <summary>A node registers and heartbeats by posting its <see cref="NodeInfo"/> here.</summary>
    public const string Heartbeat = "/scheduler/nodes/heartbeat";

    /// <summary>A node pushes job state changes here as a <see cref="NodeJobList"/>; <c>{name}</c> is the node's name.</summary>
    public const string PushJobs = "/scheduler/nodes/{name}/jobs";
}
