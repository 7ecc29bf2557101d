using System.Data.Common;
using Dapper;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Microsoft.Data.Sqlite;

namespace Drover.Scheduler.Storage;

/// <summary>
/// DAGs in the store: dependency edges, what a stopped job means for the jobs waiting on it and for a parent waiting
/// for its children, walks over the graph, and the event log written in the same transactions as the changes.
/// </summary>
internal sealed partial class SqliteJobStore
{
    /// <summary>What a transaction's changes set off: jobs that stopped (to settle), files to delete, jobs made placeable.</summary>
    private sealed class Settlement : IDisposable
    {
        private readonly Dictionary<string, BatchStatement> _statements = new(StringComparer.Ordinal);

        public Queue<long> Stopped { get; } = new();
        public List<string> Files { get; } = [];
        public bool Released { get; set; }
        public bool Changed { get; set; }

        /// <summary>A statement prepared once for this transaction and reused for every job it settles.</summary>
        public BatchStatement Statement(SqliteConnection c, DbTransaction t, string sql, params string[] names)
        {
            if (!_statements.TryGetValue(sql, out var statement))
                _statements[sql] = statement = new BatchStatement(c, t, sql, names);
            return statement;
        }

        /// <summary>Records a job's change in the event feed, with the statement this transaction prepared for it.</summary>
        public Task<int> AppendEventAsync(SqliteConnection c, DbTransaction t, long jobId, long now) =>
            Statement(c, t, AppendEventSql, "@jobId", "@now").RunAsync(jobId, now);

        public void Dispose()
        {
            foreach (var statement in _statements.Values)
                statement.Dispose();
        }
    }

    /// <summary>Records a new job's edges and root; resolves at once what its dependencies already decided.</summary>
    private static async Task LinkAsync(SqliteConnection c, DbTransaction t, long id, NewJob job, List<InsertResult> earlier, Settlement settle)
    {
        settle.Changed = true;
        long? root = null;
        if (job.Parent is { } parent)
            root = await c.ExecuteScalarAsync<long?>("SELECT COALESCE(root, id) FROM jobs WHERE id = @parent", new { parent }, t);
        if (root is null && job.RootOf is { } index)
            root = await c.ExecuteScalarAsync<long?>("SELECT COALESCE(root, id) FROM jobs WHERE id = @id", new { id = earlier[index].JobId }, t);
        var waiting = 0;
        string? unmet = null;
        string? unmetMessage = null;
        foreach (var dependency in job.DependsOn)
        {
            var upstream = dependency.JobId ?? earlier[dependency.Earlier!.Value].JobId;
            var condition = dependency.Condition.ToString().ToLowerInvariant();
            await c.ExecuteAsync(
                "INSERT INTO dependencies (job_id, depends_on, condition) VALUES (@id, @upstream, @condition) ON CONFLICT DO NOTHING",
                new { id, upstream, condition }, t);
            var state = await c.QuerySingleAsync<(string State, string Status, string? Reason, long Root)>(
                "SELECT state, status, reason, COALESCE(root, id) FROM jobs WHERE id = @upstream", new { upstream }, t);
            // Only a dependency inside the same request makes the job one of its DAG: waiting on a job that was
            // already there (any caller's) adds an edge, never a member to that DAG, so it cannot change what
            // that DAG reports.
            if (dependency.Earlier is not null)
                root ??= state.Root;
            if (state.State != "stopped")
                waiting++;
            else if (Unmet(condition, state.Status, state.Reason) is { } reason && unmet is null)
                (unmet, unmetMessage) = (reason, Explain(upstream, condition, state.Status, state.Reason));
        }
        // A job alone (no parent, no dependency) is its own root: NULL says so without a second write on the hot path.
        if (root is not null || waiting > 0)
            await c.ExecuteAsync("UPDATE jobs SET root = @root, waiting_on = @waiting WHERE id = @id", new { id, root = root ?? id, waiting }, t);
        if (unmet is not null)
        {
            await c.ExecuteAsync(
                """
                UPDATE jobs SET state = 'stopped', status = 'error', reason = @unmet, message = @unmetMessage, finished_at = created_at
                WHERE id = @id
                """, new { id, unmet, unmetMessage }, t);
            settle.Stopped.Enqueue(id);
            if (job.FilesDir is { } dir)
                settle.Files.Add(dir);
        }
        await settle.AppendEventAsync(c, t, id, job.CreatedAt);
    }

    /// <summary>Null when an edge of this condition is met by a job that ended so; else the reason its dependent stops.</summary>
    private static string? Unmet(string condition, string status, string? reason)
    {
        // A skipped job never ran: only afterany goes past it, and whatever it blocks is skipped too.
        if (reason == "skipped")
            return condition == "afterany" ? null : "skipped";
        return condition switch
        {
            "afterany" => null,
            "afterok" => status == "good" ? null : "dependency_failed",
            _ => status == "error" ? null : "skipped", // afternotok after a job that ended good: the path was not taken
        };
    }

    private static string Explain(long upstream, string condition, string status, string? reason) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"dependency {upstream} ({condition}) ended {status}{(reason is null ? "" : " (" + reason + ")")}");

    /// <summary>
    /// A job's commands ended (the attempt stopped and the job with it). A job with <c>wait_for_children</c> that ended
    /// good stays running while a child runs; once they all stopped it ends good only if they all did.
    /// </summary>
    private static async Task CommandsEndedAsync(SqliteConnection c, DbTransaction t, long id, long now, Settlement settle)
    {
        settle.Changed = true;
        (string Status, long WaitForChildren) job;
        await using (var reader = await settle.Statement(c, t, "SELECT status, wait_for_children FROM jobs WHERE id = @id", "@id").ReadAsync(id))
        {
            if (!await reader.ReadAsync())
                throw new InvalidOperationException($"job {id} is gone");
            job = (reader.GetString(0), reader.GetInt64(1));
        }
        if (job.Status == "good" && job.WaitForChildren == 1)
        {
            var (running, failed) = await ChildrenAsync(c, t, id);
            if (running > 0)
            {
                await c.ExecuteAsync(
                    """
                    UPDATE jobs SET state = 'running', status = 'unknown', finished_at = NULL, awaiting_children = 1,
                                    message = 'commands ended good; waiting for children', updated_at = @now
                    WHERE id = @id
                    """, new { id, now }, t);
                await settle.AppendEventAsync(c, t, id, now);
                return;
            }
            if (failed > 0)
                await FailForChildrenAsync(c, t, id, failed, now);
        }
        await settle.AppendEventAsync(c, t, id, now);
        settle.Stopped.Enqueue(id);
    }

    private static async Task<(long Running, long Failed)> ChildrenAsync(SqliteConnection c, DbTransaction t, long id)
    {
        var counts = await c.QuerySingleAsync<(long? Running, long? Failed)>(
            """
            SELECT SUM(state <> 'stopped'), SUM(state = 'stopped' AND status <> 'good' AND COALESCE(reason, '') <> 'skipped')
            FROM jobs WHERE parent = @id
            """, new { id }, t);
        return (counts.Running ?? 0, counts.Failed ?? 0);
    }

    private static Task<int> FailForChildrenAsync(SqliteConnection c, DbTransaction t, long id, long failed, long now) =>
        c.ExecuteAsync(
            """
            UPDATE jobs SET state = 'stopped', status = 'error', reason = 'children_failed', awaiting_children = 0,
                            message = @message, finished_at = @now, updated_at = @now
            WHERE id = @id
            """, new { id, now, message = $"{failed} of its children did not end good" }, t);

    /// <summary>
    /// Follows what stopped jobs set off, with a work list rather than recursion (a chain of 10,000 jobs is 10,000
    /// turns of the loop, not 10,000 stack frames): a dependent whose last dependency is met becomes placeable; one
    /// whose dependency can no longer be met stops (and is settled in turn); a parent waiting for its children ends
    /// once the last one stopped.
    /// </summary>
    private static async Task SettleAsync(SqliteConnection c, DbTransaction t, Settlement settle, long now)
    {
        while (settle.Stopped.TryDequeue(out var id))
        {
            (string Status, string? Reason, long? Parent) job;
            await using (var reader = await settle.Statement(c, t, "SELECT status, reason, parent FROM jobs WHERE id = @id", "@id").ReadAsync(id))
            {
                if (!await reader.ReadAsync())
                    throw new InvalidOperationException($"job {id} is gone");
                job = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
            }
            var edges = new List<(long JobId, string Condition, string? FilesDir)>();
            await using (var reader = await settle.Statement(c, t,
                """
                SELECT d.job_id, d.condition, j.files_dir FROM dependencies d JOIN jobs j ON j.id = d.job_id
                WHERE d.depends_on = @id AND j.state = 'queued'
                """, "@id").ReadAsync(id))
            {
                while (await reader.ReadAsync())
                    edges.Add((reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
            }
            foreach (var edge in edges)
            {
                if (Unmet(edge.Condition, job.Status, job.Reason) is { } reason)
                {
                    var stopped = await c.ExecuteAsync(
                        """
                        UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, message = @message,
                                        queue_reason = NULL, finished_at = @now, updated_at = @now
                        WHERE id = @JobId AND state = 'queued'
                        """, new { edge.JobId, reason, now, message = Explain(id, edge.Condition, job.Status, job.Reason) }, t);
                    if (stopped != 1)
                        continue;
                    await settle.AppendEventAsync(c, t, edge.JobId, now);
                    settle.Stopped.Enqueue(edge.JobId);
                    if (edge.FilesDir is { } dir)
                        settle.Files.Add(dir);
                }
                else
                {
                    var left = await c.ExecuteScalarAsync<long?>(
                        """
                        UPDATE jobs SET waiting_on = waiting_on - 1, updated_at = @now
                        WHERE id = @JobId AND state = 'queued' AND waiting_on > 0
                        RETURNING waiting_on
                        """, new { edge.JobId, now }, t);
                    if (left == 0)
                        settle.Released = true;
                }
            }
            if (job.Parent is { } parent
                && await c.ExecuteScalarAsync<long>(
                    "SELECT COUNT(*) FROM jobs WHERE id = @parent AND awaiting_children = 1 AND state = 'running'", new { parent }, t) == 1)
            {
                var (running, failed) = await ChildrenAsync(c, t, parent);
                if (running > 0)
                    continue;
                if (failed > 0)
                    await FailForChildrenAsync(c, t, parent, failed, now);
                else
                    await c.ExecuteAsync(
                        """
                        UPDATE jobs SET state = 'stopped', status = 'good', awaiting_children = 0, message = 'its children ended good',
                                        finished_at = @now, updated_at = @now
                        WHERE id = @parent
                        """, new { parent, now }, t);
                await settle.AppendEventAsync(c, t, parent, now);
                settle.Stopped.Enqueue(parent);
            }
        }
    }

    /// <summary>A kill of a job that only waits for its children: nothing runs on a node, so it stops here.</summary>
    private static async Task<bool> StopAwaitingAsync(SqliteConnection c, DbTransaction t, long id, string reason, long now, Settlement settle)
    {
        var stopped = await c.ExecuteAsync(
            """
            UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, stop_request = @reason, awaiting_children = 0,
                            finished_at = @now, updated_at = @now
            WHERE id = @id AND state = 'running' AND awaiting_children = 1
            """, new { id, reason, now }, t);
        if (stopped != 1)
            return false;
        await settle.AppendEventAsync(c, t, id, now);
        settle.Changed = true;
        settle.Stopped.Enqueue(id);
        await SettleAsync(c, t, settle, now);
        return true;
    }

    private const string AppendEventSql = """
        INSERT INTO events (at, kind, job_id, root, parent, state, status, reason, node)
        SELECT @now, 'job', id, COALESCE(root, id), parent, state, status, reason, node FROM jobs WHERE id = @jobId
        """;

    private static Task<int> AppendEventAsync(SqliteConnection c, DbTransaction t, long jobId, long now) =>
        c.ExecuteAsync(AppendEventSql, new { jobId, now }, t);

    private static Task<int> AppendNodeEventAsync(SqliteConnection c, DbTransaction t, string node, string change, long now) =>
        c.ExecuteAsync("INSERT INTO events (at, kind, state, node) VALUES (@now, 'node', @change, @node)", new { now, change, node }, t);

    /// <summary>After the commit: wake the event streams, the placement loop when jobs became placeable, delete files of jobs that will never run.</summary>
    private void Published(Settlement settle)
    {
        if (!settle.Changed && settle.Stopped.Count == 0)
            return;
        _feed.Published();
        if (settle.Released)
            _placement.Wake();
        foreach (var dir in settle.Files)
            JobFiles.Delete(dir, _logger);
    }

    public async Task<IReadOnlyList<long>> FindJobsAsync(IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
            return [];
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>("SELECT id FROM jobs WHERE id IN @ids", new { ids })).AsList();
    }

    public async Task<long?> RootOfAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>("SELECT COALESCE(root, id) FROM jobs WHERE id = @id", new { id });
    }

    public async Task<JobLinks> GetLinksAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var children = (await connection.QueryAsync<long>("SELECT id FROM jobs WHERE parent = @id ORDER BY id", new { id })).AsList();
        var dependsOn = (await connection.QueryAsync<(long Job, string Condition)>(
            "SELECT depends_on, condition FROM dependencies WHERE job_id = @id ORDER BY depends_on", new { id })).AsList();
        var dependents = (await connection.QueryAsync<(long Job, string Condition)>(
            "SELECT job_id, condition FROM dependencies WHERE depends_on = @id ORDER BY job_id", new { id })).AsList();
        var waitingOn = (await connection.QueryAsync<long>(
            """
            SELECT d.depends_on FROM dependencies d JOIN jobs u ON u.id = d.depends_on
            WHERE d.job_id = @id AND u.state <> 'stopped' ORDER BY d.depends_on
            """, new { id })).AsList();
        return new JobLinks(children, dependsOn, dependents, waitingOn);
    }

    // A DAG is the jobs that share its root: those of one DAG request and, transitively, their children.
    // Dependencies on jobs outside it show as edges only.
    private const string Members = """
        INSERT INTO dag_walk SELECT id FROM jobs WHERE root = @root
        UNION SELECT @root
        """;

    public async Task<DagRows?> GetDagAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // One read transaction: both queries see the same snapshot of a DAG that is changing while it is read.
        await using var transaction = connection.BeginTransaction(deferred: true);
        var root = await connection.ExecuteScalarAsync<long?>(
            """
            WITH RECURSIVE up(id, parent) AS (
              SELECT id, parent FROM jobs WHERE id = @id
              UNION SELECT j.id, j.parent FROM jobs j JOIN up ON j.id = up.parent)
            SELECT COALESCE(j.root, j.id) FROM up JOIN jobs j ON j.id = up.id WHERE up.parent IS NULL
            """, new { id }, transaction);
        if (root is null)
            return null;
        // The members are listed once into a temporary table (SQLite's own; private to this connection) that both
        // reads join, rather than found again by each of them.
        await connection.ExecuteAsync(
            "CREATE TEMP TABLE IF NOT EXISTS dag_walk (id INTEGER PRIMARY KEY); DELETE FROM dag_walk;", transaction: transaction);
        await connection.ExecuteAsync(Members, new { root }, transaction);
        // What a status view shows, not the specs: a DAG of 10,000 jobs stays a small read.
        var jobs = (await connection.QueryAsync<JobRow>(
            """
            SELECT j.id, j.request_id, j.state, j.status, j.reason, j.node, j.created_at, j.updated_at, j.started_at, j.finished_at,
                   j.exit_code, j.attempts, j.parent, j.message, j.queue_reason, j.root
            FROM dag_walk w JOIN jobs j ON j.id = w.id ORDER BY w.id
            """, transaction: transaction)).AsList();
        var edges = (await connection.QueryAsync<(long From, long To, string Kind)>(
            """
            SELECT j.parent, j.id, 'child' FROM dag_walk w JOIN jobs j ON j.id = w.id WHERE j.parent IS NOT NULL
            UNION ALL
            SELECT d.depends_on, d.job_id, d.condition FROM dag_walk w JOIN dependencies d ON d.job_id = w.id
            """, transaction: transaction)).AsList();
        await transaction.CommitAsync(cancellationToken);
        return new DagRows(root.Value, jobs, edges);
    }

    public async Task<IReadOnlyList<long>> ListDescendantsAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>(
            """
            WITH RECURSIVE down(id) AS (
              SELECT @id
              UNION SELECT j.id FROM jobs j JOIN down ON j.parent = down.id
              UNION SELECT d.job_id FROM dependencies d JOIN down ON d.depends_on = down.id)
            SELECT id FROM down WHERE id <> @id ORDER BY id DESC
            """, new { id })).AsList();
    }

    public async Task<IReadOnlyList<EventRow>> ReadEventsAsync(long after, long? job, long? root, int limit, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // One filter per shape of query, so that each reads its own index (job_id, seq) or (root, seq).
        var filter = (job, root) switch
        {
            (not null, not null) => "job_id = @job AND root = @root AND ",
            (not null, null) => "job_id = @job AND ",
            (null, not null) => "root = @root AND ",
            _ => "",
        };
        return (await connection.QueryAsync<EventRow>(
            $"SELECT * FROM events WHERE {filter}seq > @after ORDER BY seq LIMIT @limit", new { after, job, root, limit })).AsList();
    }

    public async Task<long> LastEventAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return await connection.ExecuteScalarAsync<long?>("SELECT MAX(seq) FROM events") ?? 0;
    }

    public async Task<int> PruneEventsAsync(long olderThan, int keep, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        return await lease.Connection.ExecuteAsync(
            "DELETE FROM events WHERE at < @olderThan OR seq <= (SELECT MAX(seq) FROM events) - @keep", new { olderThan, keep });
    }

    // An edge (d) whose upstream job (u) stopped in a way that does not meet it: see Unmet.
    private const string UnmetEdge = """
        u.state = 'stopped'
        AND NOT ((d.condition = 'afterany')
                 OR (d.condition = 'afterok' AND u.status = 'good')
                 OR (d.condition = 'afternotok' AND u.status = 'error' AND COALESCE(u.reason, '') <> 'skipped'))
        """;

    public async Task<RetryResult> RetryAsync(long id, long now, CancellationToken cancellationToken)
    {
        await using var lease = await WriteAsync(cancellationToken);
        var c = lease.Connection;
        await using var t = await c.BeginTransactionAsync(cancellationToken);
        var job = await c.QuerySingleOrDefaultAsync<JobRow>("SELECT * FROM jobs WHERE id = @id", new { id }, t);
        if (job is null)
            return new RetryResult(RetryOutcome.Unknown, [], null);
        if (job.State != "stopped" || job.Status != "error" || job.Reason == "skipped")
            return new RetryResult(RetryOutcome.NotFailed, [], $"job {id} is {job.State}/{job.Status}{(job.Reason is null ? "" : "/" + job.Reason)}; only a job that stopped in error is retried");
        if (job.FilesDir is not null && Wire.Spec(job.Spec).Files.Count > 0)
            return new RetryResult(RetryOutcome.NotFailed, [], $"job {id} had uploaded files, which were deleted when it stopped; submit it again");
        var blocked = await c.QueryFirstOrDefaultAsync<long?>(
            "SELECT d.depends_on FROM dependencies d JOIN jobs u ON u.id = d.depends_on WHERE d.job_id = @id AND " + UnmetEdge,
            new { id }, t);
        if (blocked is { } upstream)
            return new RetryResult(RetryOutcome.Blocked, [], $"its dependency {upstream} cannot be met as it ended; retry that job first");

        // The job, then (breadth first, no recursion) every dependent that stopped only because of it.
        var requeued = new List<long>();
        var work = new Queue<long>([id]);
        while (work.TryDequeue(out var next))
        {
            var changed = await c.ExecuteAsync(
                """
                UPDATE jobs SET state = 'queued', status = 'unknown', reason = NULL, stop_request = NULL, failures = 0,
                                not_before = NULL, finished_at = NULL, awaiting_children = 0, message = NULL, updated_at = @now,
                                queue_reason = 'retried',
                                waiting_on = (SELECT COUNT(*) FROM dependencies d JOIN jobs u ON u.id = d.depends_on
                                              WHERE d.job_id = jobs.id AND u.state <> 'stopped')
                WHERE id = @next AND state = 'stopped'
                  AND NOT EXISTS (SELECT 1 FROM dependencies d JOIN jobs u ON u.id = d.depends_on WHERE d.job_id = jobs.id AND
                """ + " " + UnmetEdge + ")", new { next, now }, t);
            if (changed != 1)
                continue;
            await AppendEventAsync(c, t, next, now);
            requeued.Add(next);
            foreach (var dependent in await c.QueryAsync<long>(
                """
                SELECT d.job_id FROM dependencies d JOIN jobs j ON j.id = d.job_id
                WHERE d.depends_on = @next AND j.state = 'stopped' AND j.reason IN ('dependency_failed', 'skipped')
                """, new { next }, t))
                work.Enqueue(dependent);
        }
        await t.CommitAsync(cancellationToken);
        _feed.Published();
        _placement.Wake();
        return new RetryResult(RetryOutcome.Requeued, requeued, null);
    }
}

internal sealed record NewDependency(long? JobId, int? Earlier, DependencyCondition Condition);

internal sealed record JobLinks(
    IReadOnlyList<long> Children, IReadOnlyList<(long Job, string Condition)> DependsOn,
    IReadOnlyList<(long Job, string Condition)> Dependents, IReadOnlyList<long> WaitingOn);

internal sealed record DagRows(long Root, IReadOnlyList<JobRow> Jobs, IReadOnlyList<(long From, long To, string Kind)> Edges);

internal enum RetryOutcome
{
    Requeued,
    Unknown,
    NotFailed,
    Blocked,
}

internal sealed record RetryResult(RetryOutcome Outcome, IReadOnlyList<long> Requeued, string? Detail);

#pragma warning disable CA1812 // instantiated by Dapper
internal sealed class EventRow
{
    public long Seq { get; set; }
    public long At { get; set; }
    public string Kind { get; set; } = "";
    public long? JobId { get; set; }
    public long? Root { get; set; }
    public long? Parent { get; set; }
    public string? State { get; set; }
    public string? Status { get; set; }
    public string? Reason { get; set; }
    public string? Node { get; set; }
}
#pragma warning restore CA1812
