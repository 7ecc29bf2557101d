using Drover.Contracts;
using Drover.Scheduler.Nodes;

namespace Drover.Scheduler.Storage;

/// <summary>
/// Where the scheduler keeps jobs, attempts and nodes. Every state change is a compare-and-set on the state the
/// caller last read, so that any number of schedulers (a PostgreSQL engine claiming with <c>FOR UPDATE SKIP LOCKED</c>)
/// and every retry stay safe; no method holds anything across a call to a node.
/// </summary>
internal interface IJobStore
{
    /// <summary>This scheduler's name among those sharing the database, drawn each time the store opens.</summary>
    string Instance { get; }

    /// <summary><c>sqlite</c> or <c>postgresql</c>.</summary>
    string Engine { get; }

    /// <summary>No other scheduler can share this database (a SQLite file).</summary>
    bool Exclusive { get; }

    Task RenewPresenceAsync(string? url, long now, long expiresAt, CancellationToken cancellationToken);
    Task LeaveAsync(long now, CancellationToken cancellationToken);
    Task<bool> TryLeaseAsync(string name, long now, long expiresAt, CancellationToken cancellationToken);
    Task<int> TakeOverAsync(long now, bool all, CancellationToken cancellationToken);

    /// <summary>Creates or migrates the schema.</summary>
    Task InitializeAsync(CancellationToken cancellationToken);

    /// <summary>Inserts jobs in one transaction. A request id that exists already returns that job, not a new one.</summary>
    Task<IReadOnlyList<InsertResult>> InsertJobsAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken);

    Task<JobRow?> GetJobAsync(long id, CancellationToken cancellationToken);
    Task<IReadOnlyList<AttemptRow>> GetAttemptsAsync(long jobId, CancellationToken cancellationToken);

    /// <summary>One attempt's state, times and references (no spec), or null.</summary>
    Task<AttemptRow?> GetAttemptAsync(long jobId, int number, CancellationToken cancellationToken);
    Task<IReadOnlyList<long>> GetChildrenAsync(long jobId, CancellationToken cancellationToken);
    /// <summary>Jobs without their specs (<see cref="JobRow.Spec"/> is empty): a list never reads what it does not show.</summary>
    Task<IReadOnlyList<JobRow>> ListJobsAsync(JobFilter filter, CancellationToken cancellationToken);

    /// <summary>Queued jobs by priority then age, the page after job <paramref name="after"/> in that order (0: from the head), without specs.</summary>
    Task<IReadOnlyList<JobRow>> ListQueueAsync(long after, int limit, CancellationToken cancellationToken);

    /// <summary>The specs (JSON) of these jobs, by id; unknown ids are left out.</summary>
    Task<IReadOnlyDictionary<long, string>> GetSpecsAsync(IReadOnlyList<long> ids, CancellationToken cancellationToken);

    /// <summary>Counts by state and status, submissions and stops per minute since <paramref name="since"/>, the latest failures.</summary>
    Task<JobSummaryRows> SummarizeAsync(long since, int failures, CancellationToken cancellationToken);

    /// <summary>
    /// A placement pass in one transaction: <paramref name="decide"/> reads the queue (rows locked for this pass) and
    /// chooses; the claims that fit their node's free slots move queued → placed with a new attempt owned by this
    /// scheduler. Returns the claims that won. The pass's clock (<see cref="QueueReader.Now"/>) is read when the
    /// transaction runs, not when it was asked for: an attempt is never recorded placed before what released its job.
    /// </summary>
    Task<IReadOnlyList<Claim>> PlaceAsync(Func<QueueReader, Task<PlacementDecision>> decide, CancellationToken cancellationToken);

    /// <summary>Undoes this scheduler's claims whose start certainly did not reach the node: placed → queued, the attempt forgotten.</summary>
    Task UnclaimAsync(IReadOnlyList<Claim> claims, long now, string reason, CancellationToken cancellationToken);

    /// <summary>Attempts placed or running (on one node, or on all; this scheduler's own, or anyone's), with what a transition needs of their job.</summary>
    Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsAsync(string? node, bool mine, CancellationToken cancellationToken);

    /// <summary>The placed or running attempts of these jobs.</summary>
    Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsOfJobsAsync(IReadOnlyList<long> jobIds, CancellationToken cancellationToken);

    /// <summary>Backend refs of attempts on <paramref name="node"/> recorded lost (<c>node_lost</c>) since <paramref name="since"/>: nobody saw them end there.</summary>
    Task<IReadOnlyList<NodeAttempt>> ListLostAttemptsAsync(string node, long since, CancellationToken cancellationToken);

    Task<IReadOnlyDictionary<string, int>> CountActiveByNodeAsync(CancellationToken cancellationToken);

    /// <summary>Jobs by state, status and reason, the queue's oldest, and active attempts by node: what metrics show.</summary>
    Task<JobCounts> CountJobsAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Applies transitions in one transaction; returns those whose compare-and-set held. The node references of
    /// starts (<paramref name="nodeRefs"/>) are saved in the same transaction.
    /// </summary>
    Task<IReadOnlyList<AttemptChange>> ApplyAsync(
        IReadOnlyList<AttemptChange> changes, long now, CancellationToken cancellationToken, IReadOnlyList<NodeRefRecord>? nodeRefs = null);

    /// <summary>A user stops a queued job: queued → stopped. False when it was no longer queued.</summary>
    Task<bool> StopQueuedAsync(long jobId, string reason, long now, CancellationToken cancellationToken);

    /// <summary>Marks a placed or running job (and its current attempt) to be stopped for <paramref name="reason"/>.</summary>
    Task<bool> RequestStopAsync(long jobId, string reason, CancellationToken cancellationToken);

    /// <summary>Marks one running attempt to be stopped (a timeout), unless something asked already.</summary>
    Task<bool> RequestAttemptStopAsync(long jobId, int number, string reason, CancellationToken cancellationToken);

    /// <summary>Which of these job ids exist.</summary>
    Task<IReadOnlyList<long>> FindJobsAsync(IReadOnlyList<long> ids, CancellationToken cancellationToken);

    /// <summary>The DAG a job belongs to (its <c>root</c>), or null for an unknown job.</summary>
    Task<long?> RootOfAsync(long id, CancellationToken cancellationToken);

    /// <summary>Children, dependencies (and those not yet stopped), dependents.</summary>
    Task<JobLinks> GetLinksAsync(long id, CancellationToken cancellationToken);

    /// <summary>Every job connected to the job's root ancestor by child and dependency edges, read in one snapshot.</summary>
    Task<DagRows?> GetDagAsync(long id, CancellationToken cancellationToken);

    /// <summary>Children and dependents, transitively, deepest (newest) first.</summary>
    Task<IReadOnlyList<long>> ListDescendantsAsync(long id, CancellationToken cancellationToken);

    /// <summary>Re-queues a failed job (failure count reset) and the dependents that stopped only because of it.</summary>
    Task<RetryResult> RetryAsync(long id, long now, CancellationToken cancellationToken);

    Task<IReadOnlyList<EventRow>> ReadEventsAsync(long after, long? job, long? root, int limit, CancellationToken cancellationToken);
    Task<long> LastEventAsync(CancellationToken cancellationToken);

    /// <summary>Deletes events older than <paramref name="olderThan"/> or beyond the newest <paramref name="keep"/>.</summary>
    Task<int> PruneEventsAsync(long olderThan, int keep, CancellationToken cancellationToken);

    /// <summary>Every node; the info only of those whose <c>updated_at</c> is at or after <paramref name="infoChangedSince"/>.</summary>
    Task<IReadOnlyList<NodeRow>> ListNodesAsync(long infoChangedSince, CancellationToken cancellationToken);
    Task<NodeRow?> GetNodeAsync(string name, CancellationToken cancellationToken);
    Task UpsertNodeAsync(NodeRow node, CancellationToken cancellationToken);

    /// <summary>Heartbeats that changed nothing but the time these nodes were last heard from, written together.</summary>
    Task SeenNodesAsync(IReadOnlyList<string> names, long now, CancellationToken cancellationToken);
    Task DeleteNodeAsync(string name, CancellationToken cancellationToken);
    Task<bool> SetDrainedAsync(string name, bool drained, long now, CancellationToken cancellationToken);
}

/// <summary>
/// A job to insert. <see cref="NewDependency.Earlier"/> and <see cref="RootOf"/> point at jobs earlier in the same
/// insert (a DAG request): the job shares that job's root when it has no parent.
/// </summary>
internal sealed record NewJob(string RequestId, string Spec, int Priority, int MaxAttempts, long? Parent, long? TimeoutMs, string? FilesDir, long CreatedAt)
{
    public IReadOnlyList<NewDependency> DependsOn { get; init; } = [];
    public bool WaitForChildren { get; init; }
    public int? RootOf { get; init; }

    /// <summary>The W3C traceparent of the submitting request, continued when the job is sent to a node.</summary>
    public string? TraceParent { get; init; }
}

/// <summary>Counts for the metrics: <see cref="OldestQueuedAt"/> is the created_at (ms) of the oldest queued job.</summary>
internal sealed record JobCounts(IReadOnlyList<JobCount> ByState, long? OldestQueuedAt, IReadOnlyDictionary<string, int> ActiveByNode);

internal sealed record InsertResult(long JobId, string RequestId, bool Created);

internal sealed record JobFilter(string? State, string? Status, string? Node, long? Parent, long After, int Limit)
{
    public string? Reason { get; init; }

    /// <summary>A node label the job asks for (<c>constraints.labels</c>), as key and value.</summary>
    public (string Key, string Value)? Label { get; init; }

    /// <summary>Submitted at or after this time, and before <see cref="CreatedBefore"/> (Unix milliseconds).</summary>
    public long? CreatedFrom { get; init; }
    public long? CreatedBefore { get; init; }

    /// <summary>Words that each appear in the job's commands or its request id.</summary>
    public IReadOnlyList<string> Words { get; init; } = [];
}

/// <summary>A job to place on a node as attempt <see cref="Number"/> (the job's attempts so far plus one).</summary>
internal sealed record Claim(long JobId, int Number, string Node)
{
    /// <summary>
    /// The attempt's request id on the node, <c>&lt;job&gt;-&lt;number&gt;-&lt;store incarnation&gt;</c>, set by the claim
    /// that won: the incarnation is drawn at random each time a store is opened, so no wiped or restored database
    /// can hand a node a request id it has seen before (the node would answer with that old job).
    /// </summary>
    public string BackendRef { get; init; } = "";
}

/// <summary>
/// One transition: the attempt moves from <see cref="ExpectedAttemptState"/> and its job from <see cref="ExpectedJobState"/>
/// (while the attempt is still the job's current one), or neither moves.
/// </summary>
internal sealed record AttemptChange
{
    public long JobId { get; init; }
    public int Number { get; init; }
    public required JobState ExpectedAttemptState { get; init; }
    public required JobState ExpectedJobState { get; init; }
    public required JobState AttemptState { get; init; }
    public required JobStatus AttemptStatus { get; init; }
    public string? AttemptReason { get; init; }
    public int? ExitCode { get; init; }
    public long? StartedAt { get; init; }
    public long? FinishedAt { get; init; }
    public string? Message { get; init; }
    public required JobState JobState { get; init; }
    public required JobStatus JobStatus { get; init; }
    public string? JobReason { get; init; }
    public long? JobFinishedAt { get; init; }
    public long? NotBefore { get; init; }
    public int FailuresDelta { get; init; }

    /// <summary>
    /// Set for a change only the attempt's follower may make (lost, timed out): it holds only while this scheduler
    /// still owns the attempt. A node's own report (a push, a poll's answer) is a fact any scheduler records.
    /// </summary>
    public string? Owner { get; init; }
    public string? QueueReason { get; init; }
    public string? FilesDir { get; init; }
}

// Rows as the store returns them; Dapper fills them by column name.
#pragma warning disable CA1812 // instantiated by Dapper
internal sealed class JobRow
{
    public long Id { get; set; }
    public string RequestId { get; set; } = "";
    public string Spec { get; set; } = "";
    public JobState State { get; set; }
    public JobStatus Status { get; set; }
    public string? Reason { get; set; }
    public long Priority { get; set; }
    public long MaxAttempts { get; set; }
    public long Attempts { get; set; }
    public long Failures { get; set; }
    public long? Parent { get; set; }
    public string? Node { get; set; }
    public long? ExitCode { get; set; }
    public string? Message { get; set; }
    public long? TimeoutMs { get; set; }
    public string? FilesDir { get; set; }
    public long CreatedAt { get; set; }
    public long UpdatedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? FinishedAt { get; set; }
    public long? NotBefore { get; set; }
    public string? QueueReason { get; set; }
    public string? StopRequest { get; set; }

    /// <summary>The reason of the job's latest attempt (not a column: read by the queries that answer the API).</summary>
    public string? LastReason { get; set; }
    public long? Root { get; set; }
    public long WaitingOn { get; set; }
    public long WaitForChildren { get; set; }
    public long AwaitingChildren { get; set; }
    public string? TraceParent { get; set; }
}

internal sealed class JobCount
{
    public JobState State { get; set; }
    public JobStatus Status { get; set; }
    public string? Reason { get; set; }
    public long Count { get; set; }
}

internal sealed class AttemptRow
{
    public long JobId { get; set; }
    public long Number { get; set; }
    public string Node { get; set; } = "";
    public string BackendRef { get; set; } = "";
    public string? NodeRef { get; set; }
    public JobState State { get; set; }
    public JobStatus Status { get; set; }
    public string? Reason { get; set; }
    public long? ExitCode { get; set; }
    public string? Message { get; set; }
    public string? StopRequest { get; set; }
    public long PlacedAt { get; set; }
    public long? StartedAt { get; set; }
    public long? FinishedAt { get; set; }
}

internal sealed class ActiveAttempt
{
    public long JobId { get; set; }
    public long Number { get; set; }
    public string Node { get; set; } = "";
    public string BackendRef { get; set; } = "";

    /// <summary>The node's own reference of it (an ECS task ARN), once its start answered.</summary>
    public string? NodeRef { get; set; }

    /// <summary>The scheduler that follows the attempt (see <see cref="IJobStore.Instance"/>).</summary>
    public string? Owner { get; set; }
    public JobState State { get; set; }
    public string? Message { get; set; }
    public string? StopRequest { get; set; }
    public long PlacedAt { get; set; }
    public long? StartedAt { get; set; }
    public JobState JobState { get; set; }
    public long MaxAttempts { get; set; }
    public long Attempts { get; set; }
    public long Failures { get; set; }
    public string? JobStopRequest { get; set; }
    public long? TimeoutMs { get; set; }
    public string? FilesDir { get; set; }
    public long JobCreatedAt { get; set; }
    public string? TraceParent { get; set; }

    /// <summary>The root of the job's DAG (the job itself when it is alone).</summary>
    public long Root { get; set; }

    /// <summary>The spec, read and parsed by the placement pass for the start it sends (not a column: the follower's scans read no specs).</summary>
    public JobSpec? ParsedSpec { get; set; }
}

internal sealed class NodeRow
{
    public string Name { get; set; } = "";
    public string Uri { get; set; } = "";
    public string Source { get; set; } = "";
    public string? Info { get; set; }
    public long Drained { get; set; }
    public long UpdatedAt { get; set; }

    /// <summary>The last heartbeat any scheduler heard (Unix ms), or null.</summary>
    public long? LastSeen { get; set; }
    public long Slots { get; set; }

    /// <summary>Its placed and running attempts, as the store counts them.</summary>
    public long Active { get; set; }
}
#pragma warning restore CA1812
