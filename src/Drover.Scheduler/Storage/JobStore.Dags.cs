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
internal sealed partial class JobStore
{
    /// <summary>
    /// One write transaction and what it set off: jobs that stopped (to settle), files to delete, whether work was
    /// made for placement, the changes of node load, and the events, which are written last (see <see cref="FlushAsync"/>).
    /// </summary>
    internal sealed class Write(DbConnection connection, DbTransaction transaction) : IDisposable
    {
        private readonly Dictionary<string, BatchStatement> _statements = new(StringComparer.Ordinal);
        private readonly List<(long? JobId, string? Node, string? Change, long At)> _events = [];
        private readonly HashSet<long> _jobEvents = [];
        private readonly SortedDictionary<string, long> _active = new(StringComparer.Ordinal);

        public DbConnection Connection => connection;
        public DbTransaction Transaction => transaction;
        public Queue<long> Stopped { get; } = new();
        public List<string> Files { get; } = [];

        /// <summary>Jobs became placeable, or a slot was freed: placement should look (here and on other schedulers).</summary>
        public bool Work { get; set; }

        private long? _wakeAt;

        /// <summary>A job queued again becomes placeable at <paramref name="at"/> (Unix ms): placement should look then.</summary>
        public void WakeAt(long at) => _wakeAt = _wakeAt is { } earlier && earlier <= at ? earlier : at;

        /// <summary>What the transaction set off, once it has committed.</summary>
        public CommitEffects Effects() => new(HasEvents, Work, Files, _wakeAt);

        public bool HasEvents => _events.Count > 0;

        /// <summary>A statement made once for this transaction and reused for every item it handles.</summary>
        public BatchStatement Statement(string sql, params string[] names)
        {
            if (!_statements.TryGetValue(sql, out var statement))
                _statements[sql] = statement = new BatchStatement(connection, transaction, sql, names);
            return statement;
        }

        /// <summary>
        /// The job changed: one event, with the state it has when the transaction ends (a job changed twice in one
        /// transaction is one event: no reader could have seen the state between).
        /// </summary>
        public void JobChanged(long jobId, long now)
        {
            if (_jobEvents.Add(jobId))
                _events.Add((jobId, null, null, now));
        }

        public void NodeChanged(string node, string change, long now) => _events.Add((null, node, change, now));

        /// <summary>The node's placed and running attempts changed by <paramref name="delta"/>; written at the end, by node name.</summary>
        public void Active(string node, long delta) => _active[node] = _active.GetValueOrDefault(node) + delta;

        /// <summary>
        /// The transaction's last writes: node load (rows locked last, in name order, as in every transaction), then
        /// the events after the dialect's <see cref="SqlDialect.BeforeEventsAsync"/>, then one notification.
        /// </summary>
        public async Task FlushAsync(SqlDialect dialect)
        {
            foreach (var (node, delta) in _active)
            {
                if (delta != 0)
                    await Statement("UPDATE nodes SET active = CASE WHEN active + @delta < 0 THEN 0 ELSE active + @delta END WHERE name = @node", "@delta", "@node")
                        .RunAsync(delta, node);
            }
            if (_events.Count == 0)
                return;
            await dialect.BeforeEventsAsync(connection, transaction);
            // The jobs' events in one statement per moment (one for a whole transaction, but for a group of writes made
            // at different moments), each with the state its job has now; in job id order within one transaction,
            // whose events every reader sees at once. Chunked: SQLite takes at most 32,766 parameters in a statement.
            var jobEvents = _events.Where(e => e.JobId is not null).GroupBy(e => e.At)
                .SelectMany(moment => moment.Select(e => e.JobId!.Value).Chunk(1000).Select(ids => (At: moment.Key, Ids: ids)));
            foreach (var (at, ids) in jobEvents)
            {
                await connection.ExecuteAsync(
                    $"""
                    INSERT INTO events (at, kind, job_id, root, parent, state, status, reason, node)
                    SELECT @at, 'job', id, COALESCE(root, id), parent, state, status, reason, node FROM jobs
                    WHERE {dialect.In("id", "@ids")} ORDER BY id
                    """, new { at, ids }, transaction);
            }
            foreach (var (_, node, change, at) in _events.Where(e => e.JobId is null))
                await Statement("INSERT INTO events (at, kind, state, node) VALUES (@now, 'node', @change, @node)", "@now", "@change", "@node")
                    .RunAsync(at, change, node);
            await dialect.NotifyAsync(connection, transaction, Work);
        }

        public void Dispose()
        {
            foreach (var statement in _statements.Values)
                statement.Dispose();
        }
    }

    /// <summary>
    /// The links of the jobs of one insert: each new job's root and what its dependencies already decided, read once
    /// per upstream job (the jobs of the same request are known without a read), and the edges, written together.
    /// </summary>
    private sealed class NewJobLinks(Write w)
    {
        private readonly Dictionary<long, Upstream> _known = [];
        private readonly List<(long JobId, long Upstream, string Condition)> _edges = [];

        internal readonly record struct Upstream(string State, string Status, string? Reason, long Root);

        /// <summary>What a new job is: its root (null: its own), the dependencies it waits on, or the one that cannot be met.</summary>
        internal readonly record struct Link(long? Root, long Waiting, string? Unmet, string? UnmetMessage, List<(long Upstream, string Condition)> Edges);

        public async Task<Link> DecideAsync(NewJob job, List<InsertResult> earlier)
        {
            long? root = null;
            if (job.Parent is { } parent)
                root = (await ReadAsync(parent))?.Root;
            if (root is null && job.RootOf is { } index)
                root = (await ReadAsync(earlier[index].JobId))?.Root;
            var waiting = 0L;
            string? unmet = null;
            string? unmetMessage = null;
            var edges = new List<(long, string)>(job.DependsOn.Count);
            foreach (var dependency in job.DependsOn)
            {
                var upstream = dependency.JobId ?? earlier[dependency.Earlier!.Value].JobId;
                var condition = dependency.Condition.ToString().ToLowerInvariant();
                edges.Add((upstream, condition));
                var state = await ReadAsync(upstream) ?? throw new InvalidOperationException($"job {upstream} is gone");
                // Only a dependency inside the same request makes the job one of its DAG: waiting on a job that was
                // already there (any caller's) adds an edge, never a member to that DAG, so it cannot change what
                // that DAG reports.
                if (dependency.Earlier is not null)
                    root ??= state.Root;
                if (state.State != "stopped")
                    waiting++;
                else if (DagRules.Unmet(condition, state.Status, state.Reason) is { } reason && unmet is null)
                    (unmet, unmetMessage) = (reason, DagRules.Explain(upstream, condition, state.Status, state.Reason));
            }
            return new Link(root, waiting, unmet, unmetMessage, edges);
        }

        /// <summary>The job was written as <paramref name="link"/> decided; one that cannot run is settled with the insert.</summary>
        public void Inserted(long id, NewJob job, Link link)
        {
            _known[id] = link.Unmet is null
                ? new Upstream("queued", "unknown", null, link.Root ?? id)
                : new Upstream("stopped", "error", link.Unmet, link.Root ?? id);
            foreach (var (upstream, condition) in link.Edges)
                _edges.Add((id, upstream, condition));
            if (link.Unmet is null)
                return;
            w.Stopped.Enqueue(id);
            if (job.FilesDir is { } dir)
                w.Files.Add(dir);
        }

        /// <summary>
        /// The edges, 100 rows a statement: one round trip per 100 on PostgreSQL. One statement made once and bound
        /// again, for SQLite's sake: a statement of thousands of parameters built for each chunk took it 4 s for 10,000 edges.
        /// </summary>
        public async Task WriteEdgesAsync()
        {
            const int Rows = 100;
            for (var start = 0; start < _edges.Count; start += Rows)
            {
                var count = Math.Min(Rows, _edges.Count - start);
                var names = new string[count * 3];
                var values = new object?[count * 3];
                var rows = new string[count];
                for (var i = 0; i < count; i++)
                {
                    var (jobId, upstream, condition) = _edges[start + i];
                    (names[3 * i], names[3 * i + 1], names[3 * i + 2]) = ($"@j{i}", $"@u{i}", $"@c{i}");
                    (values[3 * i], values[3 * i + 1], values[3 * i + 2]) = (jobId, upstream, condition);
                    rows[i] = $"(@j{i}, @u{i}, @c{i})";
                }
                await w.Statement($"INSERT INTO dependencies (job_id, depends_on, condition) VALUES {string.Join(", ", rows)} ON CONFLICT DO NOTHING", names)
                    .RunAsync(values);
            }
        }

        private async Task<Upstream?> ReadAsync(long id)
        {
            if (_known.TryGetValue(id, out var known))
                return known;
            await using var reader = await w.Statement("SELECT state, status, reason, COALESCE(root, id) FROM jobs WHERE id = @id", "@id").ReadAsync(id);
            if (!await reader.ReadAsync())
                return null;
            return _known[id] = new Upstream(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2), reader.GetInt64(3));
        }
    }

    /// <summary>
    /// A job's commands ended (the attempt stopped and the job with it). A job with <c>wait_for_children</c> that ended
    /// good stays running while a child runs; once they all stopped it ends good only if they all did.
    /// </summary>
    private static async Task CommandsEndedAsync(Write w, long id, long now)
    {
        (string Status, long WaitForChildren) job;
        await using (var reader = await w.Statement("SELECT status, wait_for_children FROM jobs WHERE id = @id", "@id").ReadAsync(id))
        {
            if (!await reader.ReadAsync())
                throw new InvalidOperationException($"job {id} is gone");
            job = (reader.GetString(0), reader.GetInt64(1));
        }
        w.JobChanged(id, now);
        if (job.Status == "good" && job.WaitForChildren == 1)
        {
            var (running, failed) = await ChildrenAsync(w, id);
            if (running > 0)
            {
                await w.Connection.ExecuteAsync(
                    """
                    UPDATE jobs SET state = 'running', status = 'unknown', finished_at = NULL, awaiting_children = 1,
                                    message = 'commands ended good; waiting for children', updated_at = @now
                    WHERE id = @id
                    """, new { id, now }, w.Transaction);
                return;
            }
            if (failed > 0)
                await FailForChildrenAsync(w, id, failed, now);
        }
        w.Stopped.Enqueue(id);
    }

    private static async Task<(long Running, long Failed)> ChildrenAsync(Write w, long id)
    {
        var counts = await w.Connection.QuerySingleAsync<(long? Running, long? Failed)>(
            """
            SELECT SUM(CASE WHEN state <> 'stopped' THEN 1 ELSE 0 END),
                   SUM(CASE WHEN state = 'stopped' AND status <> 'good' AND COALESCE(reason, '') <> 'skipped' THEN 1 ELSE 0 END)
            FROM jobs WHERE parent = @id
            """, new { id }, w.Transaction);
        return (counts.Running ?? 0, counts.Failed ?? 0);
    }

    private static Task<int> FailForChildrenAsync(Write w, long id, long failed, long now) =>
        w.Connection.ExecuteAsync(
            """
            UPDATE jobs SET state = 'stopped', status = 'error', reason = 'children_failed', awaiting_children = 0,
                            message = @message, finished_at = @now, updated_at = @now
            WHERE id = @id
            """, new { id, now, message = $"{failed} of its children did not end good" }, w.Transaction);

    /// <summary>
    /// Follows what stopped jobs set off, with a work list rather than recursion (a chain of 10,000 jobs is 10,000
    /// turns of the loop, not 10,000 stack frames): a dependent whose last dependency is met becomes placeable; one
    /// whose dependency can no longer be met stops (and is settled in turn); a parent waiting for its children ends
    /// once the last one stopped.
    /// </summary>
    private static async Task SettleAsync(Write w, long now)
    {
        var (c, t) = (w.Connection, w.Transaction);
        while (w.Stopped.TryDequeue(out var id))
        {
            (string Status, string? Reason, long? Parent) job;
            await using (var reader = await w.Statement("SELECT status, reason, parent FROM jobs WHERE id = @id", "@id").ReadAsync(id))
            {
                if (!await reader.ReadAsync())
                    throw new InvalidOperationException($"job {id} is gone");
                job = (reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2));
            }
            // The dependents' state is tested here, not in the query: with "j.state = 'queued'" there, PostgreSQL
            // planned from the statistics of a young table (a few queued jobs) a scan of every queued job for each
            // edge, 5 ms a turn, 50 s to fail a chain of 10,000 jobs.
            var edges = new List<(long JobId, string Condition, string? FilesDir)>();
            await using (var reader = await w.Statement(
                """
                SELECT d.job_id, d.condition, j.files_dir, j.state FROM dependencies d JOIN jobs j ON j.id = d.job_id
                WHERE d.depends_on = @id
                ORDER BY d.job_id
                """, "@id").ReadAsync(id))
            {
                while (await reader.ReadAsync())
                    if (reader.GetString(3) == "queued")
                        edges.Add((reader.GetInt64(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2)));
            }
            foreach (var edge in edges)
            {
                if (DagRules.Unmet(edge.Condition, job.Status, job.Reason) is { } reason)
                {
                    var stopped = await c.ExecuteAsync(
                        """
                        UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, message = @message,
                                        queue_reason = NULL, finished_at = @now, updated_at = @now
                        WHERE id = @JobId AND state = 'queued'
                        """, new { edge.JobId, reason, now, message = DagRules.Explain(id, edge.Condition, job.Status, job.Reason) }, t);
                    if (stopped != 1)
                        continue;
                    w.JobChanged(edge.JobId, now);
                    w.Stopped.Enqueue(edge.JobId);
                    if (edge.FilesDir is { } dir)
                        w.Files.Add(dir);
                }
                else
                {
                    var left = await w.Statement(
                        """
                        UPDATE jobs SET waiting_on = waiting_on - 1, updated_at = @now
                        WHERE id = @JobId AND state = 'queued' AND waiting_on > 0
                        RETURNING waiting_on
                        """, "@now", "@JobId").ScalarAsync(now, edge.JobId);
                    if (left == 0)
                        w.Work = true;
                }
            }
            if (job.Parent is { } parent
                && await c.ExecuteScalarAsync<long>(
                    "SELECT COUNT(*) FROM jobs WHERE id = @parent AND awaiting_children = 1 AND state = 'running'", new { parent }, t) == 1)
            {
                var (running, failed) = await ChildrenAsync(w, parent);
                if (running > 0)
                    continue;
                if (failed > 0)
                    await FailForChildrenAsync(w, parent, failed, now);
                else
                    await c.ExecuteAsync(
                        """
                        UPDATE jobs SET state = 'stopped', status = 'good', awaiting_children = 0, message = 'its children ended good',
                                        finished_at = @now, updated_at = @now
                        WHERE id = @parent
                        """, new { parent, now }, t);
                w.JobChanged(parent, now);
                w.Stopped.Enqueue(parent);
            }
        }
    }

    /// <summary>A kill of a job that only waits for its children: nothing runs on a node, so it stops here.</summary>
    private static async Task<bool> StopAwaitingAsync(Write w, long id, string reason, long now)
    {
        var stopped = await w.Connection.ExecuteAsync(
            """
            UPDATE jobs SET state = 'stopped', status = 'error', reason = @reason, stop_request = @reason, awaiting_children = 0,
                            finished_at = @now, updated_at = @now
            WHERE id = @id AND state = 'running' AND awaiting_children = 1
            """, new { id, reason, now }, w.Transaction);
        if (stopped != 1)
            return false;
        w.JobChanged(id, now);
        w.Stopped.Enqueue(id);
        await SettleAsync(w, now);
        return true;
    }

    public async Task<IReadOnlyList<long>> FindJobsAsync(IReadOnlyList<long> ids, CancellationToken cancellationToken)
    {
        if (ids.Count == 0)
            return [];
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>($"SELECT id FROM jobs WHERE {_dialect.In("id", "@ids")}", new { ids })).AsList();
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
    private const string Members = "WITH members (id) AS (SELECT id FROM jobs WHERE root = @root UNION SELECT CAST(@root AS BIGINT))";

    public async Task<DagRows?> GetDagAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // One read transaction: every query sees the same snapshot of a DAG that is changing while it is read.
        await using var transaction = await _dialect.BeginSnapshotAsync(connection, cancellationToken);
        var root = await connection.ExecuteScalarAsync<long?>(
            """
            WITH RECURSIVE up(id, parent) AS (
              SELECT id, parent FROM jobs WHERE id = @id
              UNION SELECT j.id, j.parent FROM jobs j JOIN up ON j.id = up.parent)
            SELECT COALESCE(j.root, j.id) FROM up JOIN jobs j ON j.id = up.id WHERE up.parent IS NULL
            """, new { id }, transaction);
        if (root is null)
            return null;
        // What a status view shows, not the specs: a DAG of 10,000 jobs stays a small read.
        var jobs = (await connection.QueryAsync<JobRow>(
            Members + """

            SELECT j.id, j.request_id, j.state, j.status, j.reason, j.node, j.created_at, j.updated_at, j.started_at, j.finished_at,
                   j.exit_code, j.attempts, j.parent, j.message, j.queue_reason, j.root
            FROM members m JOIN jobs j ON j.id = m.id ORDER BY j.id
            """, new { root }, transaction)).AsList();
        var edges = (await connection.QueryAsync<(long From, long To, string Kind)>(
            Members + """

            SELECT j.parent, j.id, 'child' FROM members m JOIN jobs j ON j.id = m.id WHERE j.parent IS NOT NULL
            UNION ALL
            SELECT d.depends_on, d.job_id, d.condition FROM members m JOIN dependencies d ON d.job_id = m.id
            """, new { root }, transaction)).AsList();
        await transaction.CommitAsync(cancellationToken);
        return new DagRows(root.Value, jobs, edges);
    }

    public async Task<IReadOnlyList<long>> ListDescendantsAsync(long id, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        return (await connection.QueryAsync<long>(
            """
            WITH RECURSIVE down(id) AS (
              SELECT CAST(@id AS BIGINT)
              UNION
              SELECT edge.below FROM down JOIN (
                  SELECT parent AS above, id AS below FROM jobs WHERE parent IS NOT NULL
                  UNION ALL SELECT depends_on, job_id FROM dependencies) edge ON edge.above = down.id)
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

    public Task<int> PruneEventsAsync(long olderThan, int keep, CancellationToken cancellationToken) =>
        WriteAsync(async w => await w.Connection.ExecuteAsync(
            "DELETE FROM events WHERE at < @olderThan OR seq <= (SELECT MAX(seq) FROM events) - @keep",
            new { olderThan, keep = (long)keep }, w.Transaction), cancellationToken);

    public Task<RetryResult> RetryAsync(long id, long now, CancellationToken cancellationToken) =>
        WriteAsync(async w =>
        {
            var (c, t) = (w.Connection, w.Transaction);
            var job = await c.QuerySingleOrDefaultAsync<JobRow>($"SELECT * FROM jobs WHERE id = @id {_dialect.ForUpdate}", new { id }, t);
            if (job is null)
                return new RetryResult(RetryOutcome.Unknown, [], null);
            if (job.State != JobState.Stopped || job.Status != JobStatus.Error || job.Reason == "skipped")
                return new RetryResult(RetryOutcome.NotFailed, [], $"job {id} is {Wire.Word(job.State)}/{Wire.Word(job.Status)}{(job.Reason is null ? "" : "/" + job.Reason)}; only a job that stopped in error is retried");
            if (job.FilesDir is not null && Wire.Spec(job.Spec).Files.Count > 0)
                return new RetryResult(RetryOutcome.NotFailed, [], $"job {id} had uploaded files, which were deleted when it stopped; submit it again");
            if (await UnmetDependencyAsync(w, id) is { } upstream)
                return new RetryResult(RetryOutcome.Blocked, [], $"its dependency {upstream} cannot be met as it ended; retry that job first");

            // The job, then (breadth first, no recursion) every dependent that stopped only because of it.
            var requeued = new List<long>();
            var work = new Queue<long>([id]);
            while (work.TryDequeue(out var next))
            {
                if (next != id && await UnmetDependencyAsync(w, next) is not null)
                    continue;
                var changed = await c.ExecuteAsync(
                    """
                    UPDATE jobs SET state = 'queued', status = 'unknown', reason = NULL, stop_request = NULL, failures = 0,
                                    not_before = NULL, finished_at = NULL, awaiting_children = 0, message = NULL, updated_at = @now,
                                    queue_reason = 'retried',
                                    waiting_on = (SELECT COUNT(*) FROM dependencies d JOIN jobs u ON u.id = d.depends_on
                                                  WHERE d.job_id = jobs.id AND u.state <> 'stopped')
                    WHERE id = @next AND state = 'stopped'
                    """, new { next, now }, t);
                if (changed != 1)
                    continue;
                w.JobChanged(next, now);
                requeued.Add(next);
                // The state is tested here, not in the query, for the plan's sake (see SettleAsync).
                foreach (var dependent in await c.QueryAsync<(long Id, string State, string? Reason)>(
                    """
                    SELECT d.job_id, j.state, j.reason FROM dependencies d JOIN jobs j ON j.id = d.job_id
                    WHERE d.depends_on = @next
                    ORDER BY d.job_id
                    """, new { next }, t))
                {
                    if (dependent.State == "stopped" && dependent.Reason is "dependency_failed" or "skipped")
                        work.Enqueue(dependent.Id);
                }
            }
            w.Work = true;
            return new RetryResult(RetryOutcome.Requeued, requeued, null);
        }, cancellationToken);

    /// <summary>A dependency of the job that stopped in a way that does not meet its edge (see <see cref="DagRules.Unmet"/>), or null.</summary>
    private static async Task<long?> UnmetDependencyAsync(Write w, long id)
    {
        var upstream = await w.Connection.QueryAsync<(long Id, string Condition, string State, string Status, string? Reason)>(
            """
            SELECT d.depends_on, d.condition, u.state, u.status, u.reason FROM dependencies d JOIN jobs u ON u.id = d.depends_on
            WHERE d.job_id = @id ORDER BY d.depends_on
            """, new { id }, w.Transaction);
        return upstream.Where(u => u.State == "stopped" && DagRules.Unmet(u.Condition, u.Status, u.Reason) is not null)
            .Select(u => (long?)u.Id).FirstOrDefault();
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
