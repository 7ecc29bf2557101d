namespace Drover.Contracts;

/// <summary>
/// <c>POST /scheduler/jobs/new</c>: a job as a user submits it. The node part (<see cref="Commands"/>,
/// <see cref="Environment"/>, <see cref="TimeoutSeconds"/>) goes to whichever node runs it; the rest steers the scheduler.
/// </summary>
public sealed record JobSpec
{
    public IReadOnlyList<CommandSpec> Commands { get; init; } = [];
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();

    /// <summary>The client's idempotency key: the same one again returns the job already made. Made up when absent.</summary>
    public string? RequestId { get; init; }

    /// <summary>Each attempt is killed after this long (reason <c>timed_out</c>).</summary>
    public double? TimeoutSeconds { get; init; }

    /// <summary>How many failed attempts the job may have before it stops with <c>retries_exhausted</c>.</summary>
    public int? MaxAttempts { get; init; }

    /// <summary>
    /// Why a failed attempt may be retried while attempts remain: <c>exit_code</c>, <c>timed_out</c>, <c>killed</c>
    /// (by the node, not by a user), <c>placement_failed</c>. Absent: every one of them but <c>timed_out</c> (a timeout
    /// ends the job, as in AWS Batch and Slurm). A lost node is retried whatever this says.
    /// </summary>
    public IReadOnlyList<StopReason>? RetryOn { get; init; }

    /// <summary>
    /// The Processor running an attempt kills it when it cannot reach the scheduler for <c>Processor:DisconnectedStopAfter</c>,
    /// so that the attempt placed elsewhere once the node is declared lost never runs beside it.
    /// </summary>
    public bool StopWhenDisconnected { get; init; }

    /// <summary>Higher goes first; equal priorities go oldest first.</summary>
    public int Priority { get; init; }

    public JobConstraints? Constraints { get; init; }

    /// <summary>Names of the files uploaded with the job (multipart); they land in its working directory.</summary>
    public IReadOnlyList<string> Files { get; init; } = [];

    /// <summary>
    /// Jobs this one waits for: <c>[12, 13]</c> (each <c>afterok</c>) or <c>[{"job": 12, "condition": "afternotok"}]</c>.
    /// In <c>POST /scheduler/dags/new</c> a dependency names another job of the request.
    /// </summary>
    public IReadOnlyList<Dependency>? DependsOn { get; init; }

    /// <summary>The job that calls this one. Taken from a job token when absent; a job token may only name a job of its own DAG.</summary>
    public long? Parent { get; init; }

    /// <summary>When its commands end good, the job stays <c>running</c> until all its children stopped, and ends good only if they all did.</summary>
    public bool WaitForChildren { get; init; }
}

/// <summary>Where a job may run: on the node of that name, and only on nodes carrying every label given.</summary>
public sealed record JobConstraints
{
    public string? Node { get; init; }
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();
}

/// <summary>The 202 answer to a submission, sent once the job is committed.</summary>
public sealed record SubmitAnswer(string RequestId, long JobId, string Href);

/// <summary>
/// <c>POST /scheduler/jobs/batch</c>: independent jobs stored all or none, each as <c>POST /scheduler/jobs/new</c> takes it
/// (with its own request_id), but not one DAG: none depends on another of the batch.
/// </summary>
public sealed record BatchRequest
{
    public IReadOnlyList<JobSpec> Jobs { get; init; } = [];
}

/// <summary>The 202 answer to a batch, sent once all its jobs are committed: one answer a job, in the order sent.</summary>
public sealed record BatchAnswer
{
    public IReadOnlyList<SubmitAnswer> Jobs { get; init; } = [];
}

/// <summary><c>GET /scheduler/jobs/{id}</c>: the whole record.</summary>
public sealed record JobRecord
{
    public long Id { get; init; }
    public required string RequestId { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public StopReason? Reason { get; init; }

    /// <summary>Why the latest attempt ended (<c>timed_out</c> under a <c>retries_exhausted</c>, say); absent before one ended.</summary>
    public StopReason? LastReason { get; init; }
    public string? Node { get; init; }
    public int? ExitCode { get; init; }
    public int Priority { get; init; }
    public int MaxAttempts { get; init; }
    public long? Parent { get; init; }
    public IReadOnlyList<long> Children { get; init; } = [];

    /// <summary>The DAG this job belongs to: its parent's root, else its first dependency's root, else itself.</summary>
    public long? Root { get; init; }

    /// <summary>Jobs this one waits for, with the condition of each edge.</summary>
    public IReadOnlyList<Dependency> DependsOn { get; init; } = [];

    /// <summary>Jobs that wait for this one, with the condition of each edge.</summary>
    public IReadOnlyList<Dependency> Dependents { get; init; } = [];

    /// <summary>Dependencies not yet resolved: a queued job is not placed while this is above 0.</summary>
    public int WaitingOn { get; init; }

    /// <summary>The job's own commands ended good and it waits for its children (<c>wait_for_children</c>).</summary>
    public bool AwaitingChildren { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>Why a queued job is still waiting (no node fits, backing off before a retry, ...).</summary>
    public string? QueueReason { get; init; }
    public required JobSpec Spec { get; init; }
    public IReadOnlyList<AttemptRecord> Attempts { get; init; } = [];

    /// <summary>The W3C trace id of the request that submitted the job; its starts on nodes continue that trace.</summary>
    public string? TraceId { get; init; }
}

/// <summary>One placement of a job on a node.</summary>
public sealed record AttemptRecord
{
    public int Number { get; init; }
    public required string Node { get; init; }

    /// <summary>The backend's reference: the job's request id on the node, <c>"&lt;job id&gt;-&lt;attempt&gt;"</c>.</summary>
    public required string BackendRef { get; init; }

    /// <summary>The node's own reference of the attempt, when it has one: on an ECS node, the task ARN.</summary>
    public string? NodeRef { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public StopReason? Reason { get; init; }
    public int? ExitCode { get; init; }
    public DateTimeOffset PlacedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public string? Message { get; init; }
}

/// <summary><c>GET /scheduler/jobs/{id}/status</c>: the seed's <c>{"state", "status", "node", "created_at"}</c> and a little more.</summary>
public sealed record JobStatusView
{
    public long JobId { get; init; }
    public required string RequestId { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public StopReason? Reason { get; init; }

    /// <summary>Why the latest attempt ended (<c>timed_out</c> under a <c>retries_exhausted</c>, say); absent before one ended.</summary>
    public StopReason? LastReason { get; init; }
    public string? Node { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public int? ExitCode { get; init; }
    public int Attempts { get; init; }
    public long? Parent { get; init; }
    public string? Message { get; init; }
    public string? QueueReason { get; init; }
}

/// <summary><c>GET /scheduler/jobs</c>: a page of jobs; <see cref="Next"/> is the link to the following page.</summary>
public sealed record JobPage
{
    public IReadOnlyList<JobStatusView> Jobs { get; init; } = [];
    public string? Next { get; init; }
}

/// <summary><c>GET /scheduler/queue/{id}</c>: is the job still waiting, and why.</summary>
public sealed record QueueEntry
{
    public long JobId { get; init; }
    public required string RequestId { get; init; }

    /// <summary>True while the job waits to be placed; false once it was placed or stopped.</summary>
    public bool Queued { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public int Priority { get; init; }
    public int Attempts { get; init; }
    public DateTimeOffset CreatedAt { get; init; }

    /// <summary>A retry waits until then (backoff).</summary>
    public DateTimeOffset? NotBefore { get; init; }
    public string? Reason { get; init; }

    /// <summary>Dependencies of a queued job that have not stopped yet: it is not placed before they have.</summary>
    public IReadOnlyList<long> WaitingOn { get; init; } = [];
}

/// <summary><c>GET /scheduler/queue</c>.</summary>
public sealed record QueueList
{
    public IReadOnlyList<QueueEntry> Jobs { get; init; } = [];
}

/// <summary>Health of a node as the scheduler sees it.</summary>
public enum NodeHealth
{
    Up,
    Down,
}

/// <summary>A node in <c>GET /scheduler/nodes</c> and <c>/scheduler/nodes/available</c> (the seed's <c>name, ipv4, hostname, uri</c> and more).</summary>
public sealed record NodeView
{
    public required string Name { get; init; }
    public IReadOnlyList<string> Ipv4 { get; init; } = [];
    public string Hostname { get; init; } = "";
    public string Uri { get; init; } = "";
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Jobs it runs at once; 0 when the node does not say (no limit known).</summary>
    public int Slots { get; init; }

    /// <summary>Attempts the scheduler has placed there and not yet seen stop.</summary>
    public int Running { get; init; }
    public NodeHealth Health { get; init; }
    public bool Drained { get; init; }

    /// <summary><c>static</c> (configured) or <c>registered</c> (heartbeats).</summary>
    public string Source { get; init; } = "static";
    public DateTimeOffset? LastSeen { get; init; }

    /// <summary>The node answered 429 or failed: no new job goes there before this.</summary>
    public DateTimeOffset? BackoffUntil { get; init; }
    public IReadOnlyList<string> Features { get; init; } = [];

    /// <summary>Why the last call to the node failed; cleared once it answers again.</summary>
    public string? LastError { get; init; }
}

/// <summary><c>GET /scheduler/nodes</c>, <c>GET /scheduler/nodes/available</c>: <c>{"nodes": [...]}</c>.</summary>
public sealed record NodeViewList
{
    public IReadOnlyList<NodeView> Nodes { get; init; } = [];
}
