using System.Data.Common;
using System.Globalization;
using Dapper;
using Drover.Scheduler.Events;
using Drover.Scheduler.Placement;
using Drover.ServiceDefaults;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Storage;

/// <summary>
/// The SQLite engine: one file, WAL journal, one writer at a time (writes are batched so that one transaction, and one
/// fsync, carries many changes). The SQL is kept portable; what is SQLite's own is marked.
/// </summary>
internal sealed partial class SqliteJobStore : IJobStore, IDisposable
{
    private readonly string _connectionString;
    private readonly EventFeed _feed;
    private readonly PlacementSignal _placement;
    private readonly ILogger<SqliteJobStore> _logger;
    private readonly TimeProvider _time;

    // Drawn anew each time the store is opened and part of every attempt's request id on its node (see Claim.BackendRef).
    private readonly string _incarnation = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(6));

    // SQLite has one writer at a time; queueing writers here (instead of in SQLite's busy handler, which sleeps
    // in steps of up to 100 ms) keeps the hot path's latency to the time the writes take.
    private readonly SemaphoreSlim _writeGate = new(1, 1);

    static SqliteJobStore() => DefaultTypeMap.MatchNamesWithUnderscores = true;

    public SqliteJobStore(IOptions<SchedulerOptions> options, EventFeed feed, PlacementSignal placement, TimeProvider time, ILogger<SqliteJobStore> logger)
    {
        _time = time;
        _feed = feed;
        _placement = placement;
        _logger = logger;
        var path = Path.GetFullPath(options.Value.Database);
        MakePrivate(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public void Dispose() => _writeGate.Dispose();

    /// <summary>
    /// The database holds every job's environment: 0600, in a directory made 0700 when this makes it. SQLite gives its
    /// -wal and -shm files the database file's mode, so the file is made here, before SQLite first opens it.
    /// </summary>
    private static void MakePrivate(string path)
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path))
            new FileStream(path, PrivateFiles.NewFile(FileMode.CreateNew)).Dispose();
        foreach (var file in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
            PrivateFiles.Restrict(file);
    }

    private async Task<WriteLease> WriteAsync(CancellationToken cancellationToken)
    {
        await _writeGate.WaitAsync(cancellationToken);
        try
        {
            return new WriteLease(await OpenAsync(cancellationToken), _writeGate);
        }
        catch
        {
            _writeGate.Release();
            throw;
        }
    }

    /// <summary>A connection that holds the write gate until disposed.</summary>
    private sealed class WriteLease(SqliteConnection connection, SemaphoreSlim gate) : IAsyncDisposable
    {
        public SqliteConnection Connection => connection;

        public async ValueTask DisposeAsync()
        {
            await connection.DisposeAsync();
            gate.Release();
        }
    }

    // The physical connections whose pragmas are set: they persist while the pool keeps the connection open, and
    // setting them again on every open is three statements parsed and run for nothing on every call.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> _pragmasSet = [];

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        if (_pragmasSet.TryGetValue(connection.Handle!, out _))
            return connection;
        // synchronous=FULL: a 202 promises the job is on disk, and with NORMAL a WAL commit can be lost on power
        // failure (not on a process crash). Batched submissions make the extra fsync per transaction affordable.
        // busy_timeout: the placement loop, the follower and the submission writer take turns as the one writer.
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        _pragmasSet.AddOrUpdate(connection.Handle!, connection.Handle!);
        return connection;
    }

    public async Task InitializeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await connection.ExecuteAsync("PRAGMA journal_mode = WAL;"); // SQLite's own; persists in the file
        var version = await connection.ExecuteScalarAsync<long>("PRAGMA user_version;");
        var assembly = typeof(SqliteJobStore).Assembly;
        var scripts = assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith("sqlite/", StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);
        foreach (var script in scripts)
        {
            var number = long.Parse(script["sqlite/".Length..].Split('_')[0], System.Globalization.CultureInfo.InvariantCulture);
            if (number <= version)
                continue;
            await using var stream = assembly.GetManifestResourceStream(script)!;
            using var reader = new StreamReader(stream);
            var sql = await reader.ReadToEndAsync(cancellationToken);
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(sql, transaction: transaction);
            await connection.ExecuteAsync($"PRAGMA user_version = {number};", transaction: transaction);
            await transaction.CommitAsync(cancellationToken);
        }
    }

    public async Task<IReadOnlyList<InsertResult>> InsertJobsAsync(IReadOnlyList<NewJob> jobs, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var results = new List<InsertResult>(jobs.Count);
        using var settle = new Settlement();
        foreach (var job in jobs)
        {
            // ON CONFLICT DO NOTHING + RETURNING: portable to PostgreSQL; a request id seen before yields no row.
            var id = await settle.Statement(connection, transaction,
                """
                INSERT INTO jobs (request_id, spec, state, status, priority, max_attempts, parent, timeout_ms, files_dir, created_at, updated_at, wait_for_children, trace_parent)
                VALUES (@RequestId, @Spec, 'queued', 'unknown', @Priority, @MaxAttempts, @Parent, @TimeoutMs, @FilesDir, @CreatedAt, @CreatedAt, @WaitForChildren, @TraceParent)
                ON CONFLICT (request_id) DO NOTHING
                RETURNING id
                """, "@RequestId", "@Spec", "@Priority", "@MaxAttempts", "@Parent", "@TimeoutMs", "@FilesDir", "@CreatedAt", "@WaitForChildren", "@TraceParent")
                .ScalarAsync(job.RequestId, job.Spec, job.Priority, job.MaxAttempts, job.Parent, job.TimeoutMs, job.FilesDir, job.CreatedAt,
                    job.WaitForChildren ? 1 : 0, job.TraceParent);
            if (id is { } created)
            {
                results.Add(new InsertResult(created, job.RequestId, true));
                await LinkAsync(connection, transaction, created, job, results, settle);
                continue;
            }
            var existing = await connection.ExecuteScalarAsync<long>(
                "SELECT id FROM jobs WHERE request_id = @RequestId", new { job.RequestId }, transaction);
            results.Add(new InsertResult(existing, job.RequestId, false));
        }
        await SettleAsync(connection, transaction, settle, jobs.Count > 0 ? jobs[0].CreatedAt : 0);
        await transaction.CommitAsync(cancellationToken);
        Published(settle);
        return results;
    }

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
            "SELECT job_id, number, node, backend_ref, state, status, placed_at, started_at, finished_at FROM attempts WHERE job_id = @jobId AND number = @number",
            new { jobId, number });
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
        var rows = await connection.QueryAsync<(long Id, string Spec)>("SELECT id, spec FROM jobs WHERE id IN @ids", new { ids });
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

    public async Task<IReadOnlyList<JobRow>> ListPlaceableAsync(long now, int offset, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // A PostgreSQL engine adds FOR UPDATE SKIP LOCKED here, inside the claim's transaction.
        return (await connection.QueryAsync<JobRow>(
            $"""
            SELECT {JobColumnsWithoutSpec} FROM jobs
            WHERE state = 'queued' AND waiting_on = 0 AND (not_before IS NULL OR not_before <= @now)
            ORDER BY priority DESC, id
            LIMIT @limit OFFSET @offset
            """, new { now, limit, offset })).AsList();
    }

    public async Task<IReadOnlyList<Claim>> ClaimAsync(IReadOnlyList<Claim> claims, long now, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var won = new List<Claim>(claims.Count);
        using var claimJob = new BatchStatement(connection, transaction,
            """
            UPDATE jobs SET state = 'placed', attempts = @Number, node = @Node, queue_reason = NULL, not_before = NULL, updated_at = @now
            WHERE id = @JobId AND state = 'queued' AND attempts = @Number - 1
            """, "@JobId", "@Number", "@Node", "@now");
        using var insertAttempt = new BatchStatement(connection, transaction,
            """
            INSERT INTO attempts (job_id, number, node, backend_ref, state, status, placed_at)
            VALUES (@JobId, @Number, @Node, @BackendRef, 'placed', 'unknown', @now)
            """, "@JobId", "@Number", "@Node", "@BackendRef", "@now");
        using var appendEvent = new BatchStatement(connection, transaction, AppendEventSql, "@jobId", "@now");
        foreach (var claim in claims)
        {
            if (await claimJob.RunAsync(claim.JobId, claim.Number, claim.Node, now) != 1)
                continue;
            var placed = claim with { BackendRef = AttemptRef.Format(claim.JobId, claim.Number, _incarnation) };
            await insertAttempt.RunAsync(placed.JobId, placed.Number, placed.Node, placed.BackendRef, now);
            await appendEvent.RunAsync(placed.JobId, now);
            won.Add(placed);
        }
        await transaction.CommitAsync(cancellationToken);
        if (won.Count > 0)
            _feed.Published();
        return won;
    }

    public async Task UnclaimAsync(IReadOnlyList<Claim> claims, long now, string reason, CancellationToken cancellationToken)
    {
        if (claims.Count == 0)
            return;
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var claim in claims)
        {
            if (await InSavepointAsync(connection, transaction, async () =>
                await connection.ExecuteAsync(
                    "DELETE FROM attempts WHERE job_id = @JobId AND number = @Number AND state = 'placed'",
                    new { claim.JobId, claim.Number }, transaction) == 1
                && await connection.ExecuteAsync(
                    """
                    UPDATE jobs SET state = 'queued', attempts = @Number - 1, queue_reason = @reason, updated_at = @now
                    WHERE id = @JobId AND state = 'placed' AND attempts = @Number
                    """, new { claim.JobId, claim.Number, reason, now }, transaction) == 1))
                await AppendEventAsync(connection, transaction, claim.JobId, now);
        }
        await transaction.CommitAsync(cancellationToken);
        _feed.Published();
    }

    public async Task SetQueueReasonsAsync(IReadOnlyList<(long JobId, string? Reason)> reasons, CancellationToken cancellationToken)
    {
        if (reasons.Count == 0)
            return;
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        foreach (var (jobId, reason) in reasons)
            await connection.ExecuteAsync(
                "UPDATE jobs SET queue_reason = @reason WHERE id = @jobId AND state = 'queued'", new { jobId, reason }, transaction);
        await transaction.CommitAsync(cancellationToken);
    }

    private const string ActiveAttemptColumns = """
        SELECT a.job_id, a.number, a.node, a.backend_ref, a.state, a.message, a.stop_request, a.placed_at, a.started_at,
               j.state AS job_state, j.max_attempts, j.attempts, j.failures, j.stop_request AS job_stop_request,
               j.timeout_ms, j.files_dir, j.created_at AS job_created_at, j.trace_parent, COALESCE(j.root, j.id) AS root
        FROM attempts a JOIN jobs j ON j.id = a.job_id
        """;

    public async Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsAsync(string? node, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<ActiveAttempt>(
            ActiveAttemptColumns + "\n" + """
            WHERE a.state IN ('placed', 'running') AND (@node IS NULL OR a.node = @node)
            ORDER BY a.job_id
            """, new { node })).AsList();
    }

    public async Task<IReadOnlyList<ActiveAttempt>> ListActiveAttemptsOfJobsAsync(IReadOnlyList<long> jobIds, CancellationToken cancellationToken)
    {
        if (jobIds.Count == 0)
            return [];
        await using var connection = await OpenAsync(cancellationToken);
        // Dapper expands the list into IN (@ids1, @ids2, ...).
        return (await connection.QueryAsync<ActiveAttempt>(
            ActiveAttemptColumns + "\n" + """
            WHERE a.state IN ('placed', 'running') AND a.job_id IN @jobIds
            """, new { jobIds })).AsList();
    }

    public async Task<IReadOnlyList<string>> ListLostAttemptsAsync(string node, long since, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<string>(
            """
            SELECT backend_ref FROM attempts
            WHERE node = @node AND state = 'stopped' AND reason = 'node_lost' AND finished_at >= @since
            ORDER BY job_id, number
            """, new { node, since })).AsList();
    }

    public async Task<IReadOnlyDictionary<string, int>> CountActiveByNodeAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var rows = await connection.QueryAsync<(string Node, long Count)>(
            "SELECT node, COUNT(*) FROM attempts WHERE state IN ('placed', 'running') GROUP BY node");
        return rows.ToDictionary(r => r.Node, r => (int)r.Count, StringComparer.Ordinal);
    }

    public async Task<IReadOnlyList<AttemptChange>> ApplyAsync(IReadOnlyList<AttemptChange> changes, long now, CancellationToken cancellationToken)
    {
        if (changes.Count == 0)
            return [];
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var applied = new List<AttemptChange>(changes.Count);
        using var settle = new Settlement();
        // Both compare-and-sets hold or neither change is made: the job's update checks the attempt's state too,
        // and nothing else writes between the two statements (one writer, inside this transaction).
        using var updateJob = new BatchStatement(connection, transaction,
            """
            UPDATE jobs
            SET state = @JobState, status = @JobStatus, reason = @JobReason,
                exit_code = COALESCE(@ExitCode, exit_code), started_at = COALESCE(started_at, @StartedAt),
                finished_at = @JobFinishedAt, not_before = @NotBefore, failures = failures + @FailuresDelta,
                queue_reason = @QueueReason, message = COALESCE(@Message, message), updated_at = @Now
            WHERE id = @JobId AND attempts = @Number AND state = @ExpectedJobState
              AND EXISTS (SELECT 1 FROM attempts WHERE job_id = @JobId AND number = @Number AND state = @ExpectedAttemptState)
            """,
            "@JobState", "@JobStatus", "@JobReason", "@ExitCode", "@StartedAt", "@JobFinishedAt", "@NotBefore", "@FailuresDelta",
            "@QueueReason", "@Message", "@Now", "@JobId", "@Number", "@ExpectedJobState", "@ExpectedAttemptState");
        using var updateAttempt = new BatchStatement(connection, transaction,
            """
            UPDATE attempts
            SET state = @AttemptState, status = @AttemptStatus, reason = @AttemptReason,
                exit_code = COALESCE(@ExitCode, exit_code), started_at = COALESCE(@StartedAt, started_at),
                finished_at = COALESCE(@FinishedAt, finished_at), message = COALESCE(@Message, message)
            WHERE job_id = @JobId AND number = @Number AND state = @ExpectedAttemptState
            """,
            "@AttemptState", "@AttemptStatus", "@AttemptReason", "@ExitCode", "@StartedAt", "@FinishedAt", "@Message",
            "@JobId", "@Number", "@ExpectedAttemptState");
        foreach (var change in changes)
        {
            if (await updateJob.RunAsync(
                    change.JobState, change.JobStatus, change.JobReason, change.ExitCode, change.StartedAt, change.JobFinishedAt,
                    change.NotBefore, change.FailuresDelta, change.QueueReason, change.Message, now, change.JobId, change.Number,
                    change.ExpectedJobState, change.ExpectedAttemptState) != 1)
                continue;
            if (await updateAttempt.RunAsync(
                    change.AttemptState, change.AttemptStatus, change.AttemptReason, change.ExitCode, change.StartedAt,
                    change.FinishedAt, change.Message, change.JobId, change.Number, change.ExpectedAttemptState) != 1)
                throw new InvalidOperationException($"attempt {change.JobId}-{change.Number} changed under its job's update");
            applied.Add(change);
            if (change.JobState == "stopped")
                await CommandsEndedAsync(connection, transaction, change.JobId, now, settle);
            else
                await settle.AppendEventAsync(connection, transaction, change.JobId, now);
        }
        await SettleAsync(connection, transaction, settle, now);
        await transaction.CommitAsync(cancellationToken);
        Published(settle);
        return applied;
    }

    public async Task<bool> StopQueuedAsync(long jobId, string reason, long now, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var stopped = await connection.ExecuteAsync(
            """
            UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, stop_request = @reason,
                            queue_reason = NULL, finished_at = @now, updated_at = @now
            WHERE id = @jobId AND state = 'queued'
            """, new { jobId, reason, now }, transaction) == 1;
        using var settle = new Settlement();
        if (stopped)
        {
            await AppendEventAsync(connection, transaction, jobId, now);
            settle.Stopped.Enqueue(jobId);
            await SettleAsync(connection, transaction, settle, now);
        }
        await transaction.CommitAsync(cancellationToken);
        Published(settle);
        return stopped;
    }

    public async Task<bool> RequestStopAsync(long jobId, string reason, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        using var settle = new Settlement();
        if (await StopAwaitingAsync(connection, transaction, jobId, reason, _time.GetUtcNow().ToUnixTimeMilliseconds(), settle))
        {
            await transaction.CommitAsync(cancellationToken);
            Published(settle);
            return true;
        }
        var marked = await connection.ExecuteAsync(
            "UPDATE jobs SET stop_request = @reason WHERE id = @jobId AND state IN ('placed', 'running')",
            new { jobId, reason }, transaction) == 1;
        if (marked)
            await connection.ExecuteAsync(
                "UPDATE attempts SET stop_request = @reason WHERE job_id = @jobId AND state IN ('placed', 'running')",
                new { jobId, reason }, transaction);
        await transaction.CommitAsync(cancellationToken);
        return marked;
    }

    public async Task<bool> RequestAttemptStopAsync(long jobId, int number, string reason, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        return await connection.ExecuteAsync(
            """
            UPDATE attempts SET stop_request = @reason
            WHERE job_id = @jobId AND number = @number AND state IN ('placed', 'running') AND stop_request IS NULL
            """, new { jobId, number, reason }) == 1;
    }

    public async Task<IReadOnlyList<NodeRow>> ListNodesAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<NodeRow>("SELECT * FROM nodes ORDER BY name")).AsList();
    }

    public async Task DeleteNodeAsync(string name, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        if (await connection.ExecuteAsync("DELETE FROM nodes WHERE name = @name AND source = 'registered'", new { name }, transaction) == 1)
            await AppendNodeEventAsync(connection, transaction, name, "removed", _time.GetUtcNow().ToUnixTimeMilliseconds());
        await transaction.CommitAsync(cancellationToken);
        _feed.Published();
    }

    public async Task UpsertNodeAsync(NodeRow node, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        await connection.ExecuteAsync(
            """
            INSERT INTO nodes (name, uri, source, info, drained, updated_at)
            VALUES (@Name, @Uri, @Source, @Info, @Drained, @UpdatedAt)
            ON CONFLICT (name) DO UPDATE SET uri = excluded.uri, source = excluded.source, info = excluded.info, updated_at = excluded.updated_at
            """, node, transaction);
        await AppendNodeEventAsync(connection, transaction, node.Name, "registered", node.UpdatedAt);
        await transaction.CommitAsync(cancellationToken);
        _feed.Published();
    }

    public async Task<bool> SetDrainedAsync(string name, bool drained, long now, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var connection = lease.Connection;
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
        var changed = await connection.ExecuteAsync(
            "UPDATE nodes SET drained = @drained, updated_at = @now WHERE name = @name",
            new { name, drained = drained ? 1 : 0, now }, transaction) == 1;
        if (changed)
            await AppendNodeEventAsync(connection, transaction, name, drained ? "drained" : "undrained", now);
        await transaction.CommitAsync(cancellationToken);
        if (changed)
            _feed.Published();
        return changed;
    }

    private static async Task<bool> InSavepointAsync(DbConnection connection, DbTransaction transaction, Func<Task<bool>> work)
    {
        await connection.ExecuteAsync("SAVEPOINT change", transaction: transaction);
        var ok = await work();
        await connection.ExecuteAsync(ok ? "RELEASE change" : "ROLLBACK TO change; RELEASE change", transaction: transaction);
        return ok;
    }
}
