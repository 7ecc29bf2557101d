using System.Data.Common;
using System.Globalization;
using Dapper;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Nodes;

namespace Drover.Scheduler.Storage;

/// <summary>
/// The store, over either engine: every statement is written once, in SQL both SQLite and PostgreSQL run; what differs
/// is the <see cref="SqlDialect"/>. Every state change is a compare-and-set on the state the caller last read, every
/// write transaction takes its locks in one order (jobs, then attempts, then nodes by name) and is run again on a
/// deadlock, and nothing is held across a call to a node.
/// </summary>
internal sealed partial class JobStore : IJobStore, IDisposable
{
    private readonly SqlDialect _dialect;
    private readonly ICommitObserver _observer;
    private readonly ILogger<JobStore> _logger;
    private readonly TimeProvider _time;

    // Drawn anew each time the store is opened: part of every attempt's request id on its node (see Claim.BackendRef),
    // and this scheduler's name among those sharing the database (the owner of the attempts it follows).
    private readonly string _incarnation = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    static JobStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public JobStore(SqlDialect dialect, ICommitObserver observer, TimeProvider time, ILogger<JobStore> logger)
    {
        _dialect = dialect;
        _time = time;
        _observer = observer;
        _logger = logger;
    }

    public string Instance => _incarnation;

    public void Dispose() => _writeLeader.Dispose();

    public string Engine => _dialect.Engine;

    public bool Exclusive => _dialect.Exclusive;

    private Task<DbConnection> OpenAsync(CancellationToken cancellationToken) => _dialect.OpenAsync(cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in a write transaction, then writes the events it recorded, notifies, commits, and
    /// only then reports what it set off (<see cref="CommitEffects"/>) to the observer, which acts on it.
    /// <para>
    /// Group commit: writes that arrive while another is committing wait for it, and the first of them then runs all
    /// that queued up meanwhile, one after another in one transaction (one commit, one fsync, one events lock, one
    /// notification for all). Each still sees what the ones before it wrote, exactly as if they had committed one by
    /// one, and is answered only once the transaction holding it has committed. If one of them fails, the transaction
    /// is rolled back and each is run alone, so a write fails only for its own fault.
    /// </para>
    /// A deadlock or serialization failure runs the transaction again from the start; so <paramref name="work"/> must
    /// keep nothing of a failed run.
    /// </summary>
    private async Task<T> WriteAsync<T>(Func<Write, Task<T>> work, CancellationToken cancellationToken)
    {
        var pending = new PendingWrite<T>(work);
        _writes.Enqueue(pending);
        // Not cancellable: a queued write is run by whoever leads next, so the one who queued it must stay to lead if no one else does.
        await _writeLeader.WaitAsync(CancellationToken.None);
        try
        {
            if (!pending.Done.Task.IsCompleted)
            {
                var batch = new List<PendingWrite>(MaxGroup);
                while (batch.Count < MaxGroup && _writes.TryDequeue(out var next))
                    batch.Add(next);
                await CommitGroupAsync(batch);
            }
        }
        finally
        {
            _writeLeader.Release();
        }
        // A caller that gives up stops waiting; its write, queued with others, still commits or fails with them.
        return await pending.Done.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Writes held in one transaction at most: enough to share a commit, few enough that one failure costs little.</summary>
    private const int MaxGroup = 64;

    private readonly System.Collections.Concurrent.ConcurrentQueue<PendingWrite> _writes = new();
    private readonly SemaphoreSlim _writeLeader = new(1, 1);

    /// <summary>Not cancellable: the group holds other callers' writes, which one caller's giving up must not fail.</summary>
    private async Task CommitGroupAsync(List<PendingWrite> group)
    {
        var cancellationToken = CancellationToken.None;
        for (var run = 1; ; run++)
        {
            try
            {
                await using var connection = await OpenAsync(cancellationToken);
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                using var write = new Write(connection, transaction);
                foreach (var pending in group)
                    await pending.RunAsync(write);
                await write.FlushAsync(_dialect);
                await transaction.CommitAsync(cancellationToken);
                _observer.Committed(write.Effects());
                foreach (var pending in group)
                    pending.Complete();
                return;
            }
            catch (Exception e) when (run < 5 && _dialect.IsTransient(e))
            {
                LogConflict(run, e.Message);
                await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.Next(1, 10 * run)), cancellationToken);
            }
            catch (Exception e) when (group.Count > 1)
            {
                LogGroupSplit(group.Count, e.Message);
                foreach (var pending in group)
                    await CommitGroupAsync([pending]);
                return;
            }
            catch (Exception e)
            {
                group[0].Fail(e);
                return;
            }
        }
    }

    private abstract class PendingWrite
    {
        public abstract Task RunAsync(Write write);

        public abstract void Complete();

        public abstract void Fail(Exception error);
    }

    private sealed class PendingWrite<T>(Func<Write, Task<T>> work) : PendingWrite
    {
        private T? _result;

        public TaskCompletionSource<T> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public override async Task RunAsync(Write write) => _result = await work(write);

        public override void Complete() => Done.TrySetResult(_result!);

        public override void Fail(Exception error) => Done.TrySetException(error);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A group of {Count} writes failed together ({Detail}); running each alone")]
    private partial void LogGroupSplit(int count, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "A write transaction met another scheduler's (run {Run}: {Detail}); running it again")]
    private partial void LogConflict(int run, string detail);

    public Task InitializeAsync(CancellationToken cancellationToken) => _dialect.MigrateAsync(cancellationToken);

    public Task<IReadOnlyList<InsertResult>> InsertJobsAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<InsertResult>>(async w =>
        {
            var results = new List<InsertResult>(jobs.Count);
            var links = new NewJobLinks(w);
            foreach (var job in jobs)
            {
                // Edges, root and what the dependencies already decided are known before the row is written, so that
                // a job is one statement (a DAG of 10,000 jobs was five round trips a job on PostgreSQL).
                var link = await links.DecideAsync(job, results);
                // ON CONFLICT DO NOTHING + RETURNING: a request id seen before yields no row.
                var id = await w.Statement(
                    """
                    INSERT INTO jobs (request_id, spec, state, status, reason, message, priority, max_attempts, parent, timeout_ms, files_dir,
                                      created_at, updated_at, finished_at, wait_for_children, trace_parent, root, waiting_on)
                    VALUES (@RequestId, @Spec, @State, @Status, @Reason, @Message, @Priority, @MaxAttempts, @Parent, @TimeoutMs, @FilesDir,
                            @CreatedAt, @CreatedAt, @FinishedAt, @WaitForChildren, @TraceParent, @Root, @WaitingOn)
                    ON CONFLICT (request_id) DO NOTHING
                    RETURNING id
                    """, "@RequestId", "@Spec", "@State", "@Status", "@Reason", "@Message", "@Priority", "@MaxAttempts", "@Parent", "@TimeoutMs", "@FilesDir",
                    "@CreatedAt", "@FinishedAt", "@WaitForChildren", "@TraceParent", "@Root", "@WaitingOn")
                    .ScalarAsync(job.RequestId, job.Spec, link.Unmet is null ? "queued" : "stopped", link.Unmet is null ? "unknown" : "error",
                        link.Unmet, link.UnmetMessage, (long)job.Priority, (long)job.MaxAttempts, job.Parent, job.TimeoutMs, job.FilesDir,
                        job.CreatedAt, link.Unmet is null ? null : job.CreatedAt, job.WaitForChildren ? 1L : 0L, job.TraceParent, link.Root, link.Waiting);
                if (id is { } created)
                {
                    results.Add(new InsertResult(created, job.RequestId, true));
                    links.Inserted(created, job, link);
                    w.JobChanged(created, job.CreatedAt);
                    w.Work = true;
                    continue;
                }
                var existing = await w.Connection.ExecuteScalarAsync<long>(
                    "SELECT id FROM jobs WHERE request_id = @RequestId", new { job.RequestId }, w.Transaction);
                results.Add(new InsertResult(existing, job.RequestId, false));
            }
            await links.WriteEdgesAsync();
            await SettleAsync(w, jobs.Count > 0 ? jobs[0].CreatedAt : 0);
            return results;
        }, cancellationToken);

    // The latest attempt's reason comes along by primary key: the status shows it under retries_exhausted.
    /// <summary>The reason the job's latest attempt ended, read beside the job (<c>jobs</c> as <c>j</c>).</summary>
    private const string LastReason = "(SELECT a.reason FROM attempts a WHERE a.job_id = j.id AND a.number = j.attempts) AS last_reason";

    private const string JobWithLastReason = $"SELECT j.*, {LastReason} FROM jobs j";

    public async Task<JobRow?> GetJobAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<JobRow>(JobWithLastReason + " WHERE j.id = @id", new { id });
    }

    public async Task<IReadOnlyList<AttemptRow>> GetAttemptsAsync(long jobId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<AttemptRow>(
            "SELECT * FROM attempts WHERE job_id = @jobId ORDER BY number", new { jobId })).AsList();
    }

    public async Task<AttemptRow?> GetAttemptAsync(long jobId, int number, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<AttemptRow>(
            "SELECT job_id, number, node, backend_ref, node_ref, state, status, placed_at, started_at, finished_at FROM attempts WHERE job_id = @jobId AND number = @number",
            new { jobId, number = (long)number });
    }

    public async Task<IReadOnlyList<long>> GetChildrenAsync(long jobId, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>("SELECT id FROM jobs WHERE parent = @jobId ORDER BY id", new { jobId })).AsList();
    }

    // Every column of jobs but the spec, which may be 64 MB: lists and scans read it only where they use it.
    private const string JobColumnsWithoutSpec = """
        id, request_id, state, status, reason, priority, max_attempts, attempts, failures, parent, node, exit_code, message,
        timeout_ms, files_dir, created_at, updated_at, started_at, finished_at, not_before, queue_reason, stop_request,
        root, waiting_on, wait_for_children, awaiting_children, trace_parent
        """;

    public async Task<IReadOnlyDictionary<long, string>> GetSpecsAsync(IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
            return new Dictionary<long, string>();
        await using var connection = await OpenAsync(cancellationToken);
        return await SpecsAsync(connection, null, _dialect, ids);
    }

    /// <summary>The specs of these jobs, by id: for a caller's reads, or inside a placement pass's transaction.</summary>
    internal static async Task<IReadOnlyDictionary<long, string>> SpecsAsync(
        DbConnection connection, DbTransaction? transaction, SqlDialect dialect, IReadOnlyList<long> ids)
    {
        if (ids.Count == 0)
            return new Dictionary<long, string>();
        var rows = await connection.QueryAsync<(long Id, string Spec)>($"SELECT id, spec FROM jobs WHERE {dialect.In("id", "@ids")}", new { ids }, transaction);
        return rows.ToDictionary(r => r.Id, r => r.Spec);
    }

    public async Task<IReadOnlyList<JobRow>> ListJobsAsync(JobFilter filter, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var (more, parameters) = MoreFilters(filter);
        return (await connection.QueryAsync<JobRow>(
            $"""
            SELECT {JobColumnsWithoutSpec}, {LastReason} FROM jobs j
            WHERE id > @After
              AND (@State IS NULL OR state = @State)
              AND (@Status IS NULL OR status = @Status)
              AND (@Node IS NULL OR node = @Node)
              AND (@Parent IS NULL OR parent = @Parent)
              {more}
            ORDER BY id
            LIMIT @Limit
            """, parameters)).AsList();
    }

    public async Task<IReadOnlyList<JobRow>> ListQueueAsync(long after, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var afterPriority = after == 0 ? 0 : await connection.ExecuteScalarAsync<long?>("SELECT priority FROM jobs WHERE id = @after", new { after }) ?? 0;
        return (await connection.QueryAsync<JobRow>(
            $"""
            SELECT {JobColumnsWithoutSpec}, {LastReason} FROM jobs j
            WHERE state = 'queued' AND (@after = 0 OR priority < @afterPriority OR (priority = @afterPriority AND id > @after))
            ORDER BY priority DESC, id
            LIMIT @limit
            """, new { after, afterPriority, limit = (long)limit })).AsList();
    }

    /// <summary>
    /// A placement pass in one transaction: <paramref name="decide"/> reads the queue's head (rows this scheduler
    /// locks, passing over those another holds) and picks nodes; then, with each chosen node's row locked (by name),
    /// no more is claimed on a node than its free slots, the attempts are recorded as this scheduler's, and the
    /// queue reasons set. Returns the claims that won.
    /// </summary>
    public Task<IReadOnlyList<Claim>> PlaceAsync(Func<QueueReader, Task<PlacementDecision>> decide, CancellationToken cancellationToken) =>
        WriteAsync<IReadOnlyList<Claim>>(async w =>
        {
            var now = Wire.Millis(_time.GetUtcNow());
            var decision = await decide(new QueueReader(w, _dialect, now));
            // One statement per reason: a pass that finds no room explains it the same way for most of the queue's head.
            foreach (var (reason, ids) in decision.Reasons.GroupBy(r => r.Reason).SelectMany(g => g.Select(r => r.JobId).Chunk(1000).Select(ids => (g.Key, ids))))
                await w.Connection.ExecuteAsync(
                    $"UPDATE jobs SET queue_reason = @reason WHERE {_dialect.In("id", "@ids")} AND state = 'queued'", new { reason, ids }, w.Transaction);
            if (decision.Claims.Count == 0)
                return [];

            // The chosen nodes' rows in one read, locked in name order (the order of every transaction); read again
            // under the lock, so that a drain committed since the pass read the nodes holds. A node that does not
            // announce slots (0) takes what it takes, and answers 429 when full.
            var names = decision.Claims.Select(c => c.Node).Distinct().ToList();
            var room = decision.Claims.Select(c => c.Node).Distinct().ToDictionary(n => n, _ => 0L, StringComparer.Ordinal);
            foreach (var (name, slots, active, drained) in await w.Connection.QueryAsync<(string, long, long, long)>(
                $"SELECT name, slots, active, drained FROM nodes WHERE {_dialect.In("name", "@names")} ORDER BY name {_dialect.ForUpdate}",
                new { names }, w.Transaction))
                room[name] = drained == 1 ? 0 : slots == 0 ? long.MaxValue : Math.Max(0, slots - active);
            var claimJob = w.Statement(
                """
                UPDATE jobs SET state = 'placed', attempts = @Number, node = @Node, queue_reason = NULL, not_before = NULL, updated_at = @now
                WHERE id = @JobId AND state = 'queued' AND attempts = @Number - 1
                """, "@JobId", "@Number", "@Node", "@now");
            var insertAttempt = w.Statement(
                """
                INSERT INTO attempts (job_id, number, node, backend_ref, owner, state, status, placed_at)
                VALUES (@JobId, @Number, @Node, @BackendRef, @owner, 'placed', 'unknown', @now)
                """, "@JobId", "@Number", "@Node", "@BackendRef", "@owner", "@now");
            var won = new List<Claim>(decision.Claims.Count);
            foreach (var claim in decision.Claims)
            {
                if (room[claim.Node] <= 0 || await claimJob.RunAsync(claim.JobId, (long)claim.Number, claim.Node, now) != 1)
                    continue;
                room[claim.Node]--;
                var placed = claim with { BackendRef = AttemptRef.Format(claim.JobId, claim.Number, _incarnation) };
                await insertAttempt.RunAsync(placed.JobId, (long)placed.Number, placed.Node, placed.BackendRef, _incarnation, now);
                w.JobChanged(placed.JobId, now);
                w.Active(placed.Node, +1);
                won.Add(placed);
            }
            return won;
        }, cancellationToken);

    public Task UnclaimAsync(IReadOnlyList<Claim> claims, long now, string reason, CancellationToken cancellationToken)
    {
        if (claims.Count == 0)
            return Task.CompletedTask;
        return WriteAsync(async w =>
        {
            // Job first, then attempt (the order of every transaction). Only this scheduler's own claim is undone: one
            // that another took over since (and may have sent again) is that scheduler's to follow.
            foreach (var claim in claims.OrderBy(c => c.JobId))
            {
                if (await w.Connection.ExecuteAsync(
                        """
                        UPDATE jobs SET state = 'queued', attempts = @Number - 1, queue_reason = @reason, updated_at = @now
                        WHERE id = @JobId AND state = 'placed' AND attempts = @Number
                          AND EXISTS (SELECT 1 FROM attempts WHERE job_id = @JobId AND number = @Number AND state = 'placed' AND owner = @owner)
                        """, new { claim.JobId, Number = (long)claim.Number, reason, now, owner = _incarnation }, w.Transaction) != 1)
                    continue;
                await w.Connection.ExecuteAsync(
                    "DELETE FROM attempts WHERE job_id = @JobId AND number = @Number",
                    new { claim.JobId, Number = (long)claim.Number }, w.Transaction);
                w.JobChanged(claim.JobId, now);
                w.Active(claim.Node, -1);
                w.Work = true;
            }
            return true;
        }, cancellationToken);
    }

    private const string ActiveAttemptColumns = """
        SELECT a.job_id, a.number, a.node, a.backend_ref, a.node_ref, a.owner, a.state, a.message, a.stop_request, a.placed_at, a.started_at,
               j.state AS job_state, j.max_attempts, j.attempts, j.failures, j.stop_request AS job_stop_request,
               j.timeout_ms, j.files_dir, j.created_at AS job_created_at, j.trace_parent, COALESCE(j.root, j.id) AS root
        FROM attempts a JOIN jobs j ON j.id = a.job_id
        """;

    public async Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsAsync(string? node, bool mine, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ActiveAttempt>(
            ActiveAttemptColumns + "\n" + """
            WHERE a.state IN ('placed', 'running') AND (@node IS NULL OR a.node = @node) AND (@owner IS NULL OR a.owner = @owner)
            ORDER BY a.job_id
            """, new { node, owner = mine ? _incarnation : null })).AsList();
    }

    public async Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsOfJobsAsync(IReadOnlyList<long> jobIds, CancellationToken cancellationToken)
    {
        if (jobIds.Count == 0)
            return [];
        await using var connection = await OpenAsync(cancellationToken);
        // Dapper expands the list into IN (@ids1, @ids2, ...).
        return (await connection.QueryAsync<ActiveAttempt>(
            ActiveAttemptColumns + "\n" + $"""
            WHERE a.state IN ('placed', 'running') AND {_dialect.In("a.job_id", "@jobIds")}
            """, new { jobIds })).AsList();
    }

    public async Task<IReadOnlyList<NodeAttempt>> ListLostAttemptsAsync(string node, long since, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<(string BackendRef, string? NodeRef)>(
            """
            SELECT backend_ref, node_ref FROM attempts
            WHERE node = @node AND state = 'stopped' AND reason = 'node_lost' AND finished_at >= @since
            ORDER BY job_id, number
            """, new { node, since })).Select(a => new NodeAttempt(a.BackendRef, a.NodeRef)).ToList();
    }

    public async Task<IReadOnlyDictionary<string, int>> CountActiveByNodeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Node, long Count)>(
            "SELECT node, COUNT(*) FROM attempts WHERE state IN ('placed', 'running') GROUP BY node");
        return rows.ToDictionary(r => r.Node, r => (int)r.Count, StringComparer.Ordinal);
    }

    public Task<IReadOnlyList<AttemptChange>> ApplyAsync(
        IReadOnlyList<AttemptChange> changes, long now, CancellationToken cancellationToken, IReadOnlyList<NodeRefRecord>? nodeRefs = null)
    {
        if (changes.Count == 0 && nodeRefs is not { Count: > 0 })
            return Task.FromResult<IReadOnlyList<AttemptChange>>([]);
        return WriteAsync<IReadOnlyList<AttemptChange>>(async w =>
        {
            var applied = new List<AttemptChange>(changes.Count);
            // Both compare-and-sets hold or neither change is made: the job's update checks the attempt's state (and,
            // for a change only the attempt's follower may make, its owner) too, and locks the job's row first.
            // (The CAST types a NULL parameter for PostgreSQL, which cannot infer it from IS NULL alone.)
            var updateJob = w.Statement(
                """
                UPDATE jobs
                SET state = @JobState, status = @JobStatus, reason = @JobReason,
                    exit_code = COALESCE(@ExitCode, exit_code), started_at = COALESCE(started_at, @StartedAt),
                    finished_at = @JobFinishedAt, not_before = @NotBefore, failures = failures + @FailuresDelta,
                    queue_reason = @QueueReason, message = COALESCE(@Message, message), updated_at = @Now
                WHERE id = @JobId AND attempts = @Number AND state = @ExpectedJobState
                  AND EXISTS (SELECT 1 FROM attempts WHERE job_id = @JobId AND number = @Number AND state = @ExpectedAttemptState
                                                         AND (CAST(@Owner AS TEXT) IS NULL OR owner = @Owner))
                """,
                "@JobState", "@JobStatus", "@JobReason", "@ExitCode", "@StartedAt", "@JobFinishedAt", "@NotBefore", "@FailuresDelta",
                "@QueueReason", "@Message", "@Now", "@JobId", "@Number", "@ExpectedJobState", "@ExpectedAttemptState", "@Owner");
            var updateAttempt = w.Statement(
                """
                UPDATE attempts
                SET state = @AttemptState, status = @AttemptStatus, reason = @AttemptReason,
                    exit_code = COALESCE(@ExitCode, exit_code), started_at = COALESCE(@StartedAt, started_at),
                    finished_at = COALESCE(@FinishedAt, finished_at), message = COALESCE(@Message, message)
                WHERE job_id = @JobId AND number = @Number AND state = @ExpectedAttemptState
                RETURNING node
                """,
                "@AttemptState", "@AttemptStatus", "@AttemptReason", "@ExitCode", "@StartedAt", "@FinishedAt", "@Message",
                "@JobId", "@Number", "@ExpectedAttemptState");
            // The jobs' rows are locked first, in id order, in one statement, so every check below reads what committed
            // before. Without it, an UPDATE that waited for another scheduler's change to the same job re-checks the job
            // row alone (PostgreSQL's read committed), not the attempt its EXISTS had read, and could pass on a stale one.
            if (_dialect.ForUpdate.Length > 0 && changes.Count > 0)
                await w.Connection.ExecuteAsync(
                    $"SELECT id FROM jobs WHERE {_dialect.In("id", "@ids")} ORDER BY id {_dialect.ForUpdate}",
                    new { ids = changes.Select(c => c.JobId).Distinct().ToList() }, w.Transaction);
            foreach (var change in changes.OrderBy(c => c.JobId))
            {
                if (await updateJob.RunAsync(
                        Wire.Word(change.JobState), Wire.Word(change.JobStatus), change.JobReason, (long?)change.ExitCode, change.StartedAt, change.JobFinishedAt,
                        change.NotBefore, (long)change.FailuresDelta, change.QueueReason, change.Message, now, change.JobId, (long)change.Number,
                        Wire.Word(change.ExpectedJobState), Wire.Word(change.ExpectedAttemptState), change.Owner) != 1)
                    continue;
                string node;
                await using (var reader = await updateAttempt.ReadAsync(
                    Wire.Word(change.AttemptState), Wire.Word(change.AttemptStatus), change.AttemptReason, (long?)change.ExitCode, change.StartedAt,
                    change.FinishedAt, change.Message, change.JobId, (long)change.Number, Wire.Word(change.ExpectedAttemptState)))
                {
                    if (!await reader.ReadAsync())
                        throw new InvalidOperationException($"attempt {change.JobId}-{change.Number} changed under its job's update");
                    node = reader.GetString(0);
                }
                applied.Add(change);
                if (change.AttemptState == JobState.Stopped)
                {
                    w.Active(node, -1);
                    w.Work = true; // a slot is free, or the job is queued again
                }
                if (change is { JobState: JobState.Stopped, FilesDir: { } dir })
                    w.Files.Add(dir);
                if (change is { JobState: JobState.Queued, NotBefore: { } notBefore } && notBefore > now)
                    w.WakeAt(notBefore);
                if (change.JobState == JobState.Stopped)
                    await CommandsEndedAsync(w, change.JobId, now);
                else
                    w.JobChanged(change.JobId, now);
            }
            await SettleAsync(w, now);
            await SaveNodeRefsAsync(w, nodeRefs ?? []); // attempts after jobs, as in every transaction
            return applied;
        }, cancellationToken);
    }

    public Task<bool> StopQueuedAsync(long jobId, string reason, long now, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            var files = (await w.Connection.QueryAsync<string?>(
                """
                UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, stop_request = @reason,
                                queue_reason = NULL, finished_at = @now, updated_at = @now
                WHERE id = @jobId AND state = 'queued'
                RETURNING files_dir
                """, new { jobId, reason, now }, w.Transaction)).AsList();
            var stopped = files.Count == 1;
            if (stopped)
            {
                if (files[0] is { } dir)
                    w.Files.Add(dir);
                w.JobChanged(jobId, now);
                w.Stopped.Enqueue(jobId);
                await SettleAsync(w, now);
            }
            return stopped;
        }, cancellationToken);

    public Task<bool> RequestStopAsync(long jobId, string reason, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            if (await StopAwaitingAsync(w, jobId, reason, _time.GetUtcNow().ToUnixTimeMilliseconds()))
                return true;
            var marked = await w.Connection.ExecuteAsync(
                "UPDATE jobs SET stop_request = @reason WHERE id = @jobId AND state IN ('placed', 'running')",
                new { jobId, reason }, w.Transaction) == 1;
            if (marked)
                await w.Connection.ExecuteAsync(
                    "UPDATE attempts SET stop_request = @reason WHERE job_id = @jobId AND state IN ('placed', 'running')",
                    new { jobId, reason }, w.Transaction);
            return marked;
        }, cancellationToken);

    public Task<bool> RequestAttemptStopAsync(long jobId, int number, string reason, CancellationToken cancellationToken) =>
        WriteAsync(async w => await w.Connection.ExecuteAsync(
            """
            UPDATE attempts SET stop_request = @reason
            WHERE job_id = @jobId AND number = @number AND state IN ('placed', 'running') AND stop_request IS NULL AND owner = @owner
            """, new { jobId, number = (long)number, reason, owner = _incarnation }, w.Transaction) == 1, cancellationToken);

    private const string NodeColumns = "name, uri, source, info, drained, updated_at, last_seen, slots, active";

    public async Task<IReadOnlyList<NodeRow>> ListNodesAsync(long infoChangedSince, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // The info (a JSON document per node) only of the nodes whose info changed: a refresh of 1,000 nodes reads
        // their health and load, not 1,000 documents.
        return (await connection.QueryAsync<NodeRow>(
            """
            SELECT name, uri, source, CASE WHEN updated_at >= @infoChangedSince THEN info END AS info, drained, updated_at,
                   last_seen, slots, active
            FROM nodes ORDER BY name
            """, new { infoChangedSince })).AsList();
    }

    public async Task<NodeRow?> GetNodeAsync(string name, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.QuerySingleOrDefaultAsync<NodeRow>($"SELECT {NodeColumns} FROM nodes WHERE name = @name", new { name });
    }

    public Task DeleteNodeAsync(string name, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            // Only a node that runs nothing: an attempt placed there by another scheduler meanwhile keeps it.
            if (await w.Connection.ExecuteAsync(
                    "DELETE FROM nodes WHERE name = @name AND source = 'registered' AND active = 0", new { name }, w.Transaction) == 1)
                w.NodeChanged(name, "removed", _time.GetUtcNow().ToUnixTimeMilliseconds());
            return true;
        }, cancellationToken);

    public Task UpsertNodeAsync(NodeRow node, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            await w.Connection.ExecuteAsync(
                """
                INSERT INTO nodes (name, uri, source, info, drained, updated_at, last_seen, slots)
                VALUES (@Name, @Uri, @Source, @Info, @Drained, @UpdatedAt, @LastSeen, @Slots)
                ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, source = excluded.source, info = excluded.info,
                    updated_at = excluded.updated_at, last_seen = COALESCE(excluded.last_seen, nodes.last_seen), slots = excluded.slots
                """, node, w.Transaction);
            w.NodeChanged(node.Name, "registered", node.UpdatedAt);
            w.Work = true;
            return true;
        }, cancellationToken);

    public Task SeenNodesAsync(IReadOnlyList<string> names, long now, CancellationToken cancellationToken)
    {
        if (names.Count == 0)
            return Task.CompletedTask;
        return WriteAsync(async w =>
        {
            var seen = w.Statement("UPDATE nodes SET last_seen = @now WHERE name = @name AND (last_seen IS NULL OR last_seen < @now)", "@now", "@name");
            foreach (var name in names.Order(StringComparer.Ordinal))
                await seen.RunAsync(now, name);
            return true;
        }, cancellationToken);
    }

    public Task<bool> SetDrainedAsync(string name, bool drained, long now, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            var changed = await w.Connection.ExecuteAsync(
                "UPDATE nodes SET drained = @drained, updated_at = @now WHERE name = @name",
                new { name, drained = drained ? 1L : 0L, now }, w.Transaction) == 1;
            if (changed)
            {
                w.NodeChanged(name, drained ? "drained" : "undrained", now);
                w.Work = !drained;
            }
            return changed;
        }, cancellationToken);
}

/// <summary>What a placement pass decided: the claims to make, and why the jobs it could not place still wait.</summary>
internal sealed record PlacementDecision(IReadOnlyList<Claim> Claims, IReadOnlyList<(long JobId, string? Reason)> Reasons);

/// <summary>The queue as a placement pass reads it, inside its transaction.</summary>
internal sealed class QueueReader
{
    private readonly JobStore.Write _write;
    private readonly SqlDialect _dialect;
    private readonly long _now;

    internal QueueReader(JobStore.Write write, SqlDialect dialect, long now) => (_write, _dialect, _now) = (write, dialect, now);

    /// <summary>The pass's clock (Unix ms), read when its transaction began to run.</summary>
    public long Now => _now;

    /// <summary>
    /// Queued jobs whose dependencies resolved and whose backoff is over, by priority then age, without their specs;
    /// locked for this pass, and none another scheduler's pass holds.
    /// </summary>
    public async Task<IReadOnlyList<JobRow>> PageAsync(int offset, int limit) =>
        (await _write.Connection.QueryAsync<JobRow>(
            $"""
            SELECT id, request_id, state, priority, max_attempts, attempts, failures, timeout_ms, files_dir, created_at,
                   queue_reason, root, trace_parent
            FROM jobs
            WHERE state = 'queued' AND waiting_on = 0 AND (not_before IS NULL OR not_before <= @now)
            ORDER BY priority DESC, id
            LIMIT @limit OFFSET @offset
            {_dialect.ForUpdateSkipLocked}
            """, new { now = _now, limit = (long)limit, offset = (long)offset }, _write.Transaction)).AsList();

    /// <summary>The specs of these jobs, by id.</summary>
    public Task<IReadOnlyDictionary<long, string>> SpecsAsync(IReadOnlyList<long> ids) =>
        JobStore.SpecsAsync(_write.Connection, _write.Transaction, _dialect, ids);
}
