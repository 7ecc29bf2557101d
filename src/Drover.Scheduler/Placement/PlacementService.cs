using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Placement;

/// <summary>
/// Takes queued jobs in order (priority, then age), finds each a node that fits and is least loaded, claims it in the
/// store and starts it there. Woken by <see cref="PlacementSignal"/>; looks again every poll interval regardless.
/// </summary>
internal sealed partial class PlacementService(
    IJobStore store, NodeRegistry nodes, Starter starter, PlacementSignal signal, IOptions<SchedulerOptions> options,
    TimeProvider time, SchedulerMetrics metrics, ILogger<PlacementService> logger) : BackgroundService
{
    private const int BatchSize = 256;

    private const int MaxStartsInFlight = 8;

    // With no free slot a pass only refreshes the queue reasons of the jobs at the head of the queue.
    private const int ReasonPage = 64;

    // Constraints by job id: a queued job is looked at by many passes, and its spec (JSON) never changes. Used by the
    // one placement loop only.
    private readonly Dictionary<long, JobConstraints?> _constraints = [];

    // Passes' starts on their way to nodes (see StartInBackgroundAsync); touched by the placement loop only.
    private readonly List<Task> _starts = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var more = false;
                try
                {
                    more = await PlaceOnceAsync(stoppingToken);
                }
                catch (Exception e) when (!stoppingToken.IsCancellationRequested)
                {
                    LogPassFailed(e);
                }
                if (!more)
                    await signal.WaitAsync(options.Value.PollInterval, stoppingToken);
            }
        }
        finally
        {
            // Starts already claimed are sent and settled before the service stops; one cut short is the follower's
            // to resend after the restart (it is placed, and no start of it is in flight then).
            await Task.WhenAll(_starts);
        }
    }

    /// <summary>
    /// Sends a pass's starts and settles them without holding up the next pass: claiming, sending and settling
    /// overlap, so a job claimed while earlier starts are on their way does not wait for them. The attempts stay
    /// reserved (<see cref="Starter.InFlight"/>) until settled. At most <see cref="MaxStartsInFlight"/> passes' starts
    /// are on their way; a pass beyond that waits for one of them.
    /// </summary>
    private async Task StartInBackgroundAsync(IReadOnlyList<Claim> won, Dictionary<long, JobRow> jobs, Dictionary<long, JobSpec> specs, DateTimeOffset now, CancellationToken cancellationToken)
    {
        _starts.RemoveAll(t => t.IsCompleted);
        if (_starts.Count >= MaxStartsInFlight)
            await Task.WhenAny(_starts);
        _starts.Add(Task.Run(async () =>
        {
            try
            {
                var missing = won.Select(c => c.JobId).Where(id => !specs.ContainsKey(id)).ToList();
                if (missing.Count > 0)
                    ParseSpecs(await store.GetSpecsAsync(missing, cancellationToken), specs);
                var attempts = won.Select(c => ToAttempt(jobs[c.JobId], specs.GetValueOrDefault(c.JobId), c, store.Instance, now)).ToList();
                await starter.StartAllAsync(attempts, cancellationToken);
            }
            catch (Exception e) when (!cancellationToken.IsCancellationRequested)
            {
                // Left placed and no longer in flight: the follower asks the node and sends the start again if it never came.
                LogStartsFailed(e, won.Count);
            }
            finally
            {
                foreach (var claim in won)
                    starter.Release(claim.JobId);
            }
        }, CancellationToken.None));
    }

    /// <summary>One pass; true when it placed something and more may be waiting. Only this service's loop runs passes.</summary>
    private async Task<bool> PlaceOnceAsync(CancellationToken cancellationToken)
    {
        await nodes.RefreshAsync(cancellationToken);
        var now = time.GetUtcNow();
        var snapshot = nodes.Snapshot();
        // Bounded: jobs that leave the queue other than by placement (killed, dependency failed) are not removed one by one.
        if (_constraints.Count >= 200_000)
            _constraints.Clear();
        var jobs = new Dictionary<long, JobRow>();
        var specs = new Dictionary<long, JobSpec>(); // specs this pass had to parse, kept for the start of those it places
        IReadOnlyList<Claim> reserved = [];
        try
        {
            var won = await store.PlaceAsync(async queue =>
            {
                // Run again from the start when the transaction meets another scheduler's: nothing of a failed run is kept.
                now = Wire.Time(queue.Now);
                jobs.Clear();
                foreach (var claim in reserved)
                    starter.Release(claim.JobId);
                var load = snapshot.ToDictionary(n => n.Name, n => n.Active, StringComparer.Ordinal);
                var picker = new NodePicker(snapshot.Where(n => n.Usable(now)), load);
                var claims = new List<Claim>();
                var reasons = new List<(long, string?)>();
                var explained = new Dictionary<JobConstraints, string>(ReferenceEqualityComparer.Instance);
                string? unconstrained = null;
                // Read no more of the queue than could be placed now: a pass that follows one finished job reads a few
                // rows. Page on (in full pages) while whole pages find no node, so that jobs no node takes do not block
                // those behind them; but not when no node has room at all: then nothing further down could be placed.
                var pageSize = picker.Full ? ReasonPage : Math.Clamp(picker.FreeSlots ?? BatchSize, 16, BatchSize);
                for (var offset = 0; claims.Count == 0; offset += pageSize, pageSize = BatchSize)
                {
                    // The scan reads no specs (they may be 64 MB each): only those of jobs whose constraints are not known yet.
                    var page = await queue.PageAsync(offset, pageSize);
                    ParseSpecs(await queue.SpecsAsync([.. page.Where(j => !_constraints.ContainsKey(j.Id)).Select(j => j.Id)]), specs);
                    foreach (var job in page)
                    {
                        var constraints = ConstraintsOf(job, specs);
                        if (picker.Take(constraints) is not { } best)
                        {
                            var reason = constraints is null
                                ? unconstrained ??= Explain(null, snapshot, load, now)
                                : explained.TryGetValue(constraints, out var known) ? known : explained[constraints] = Explain(constraints, snapshot, load, now);
                            if (reason != job.QueueReason)
                                reasons.Add((job.Id, reason));
                            continue;
                        }
                        jobs[job.Id] = job;
                        claims.Add(new Claim(job.Id, (int)job.Attempts + 1, best.Name));
                    }
                    if (page.Count < pageSize || picker.Full)
                        break;
                }
                // Reserved before the claim commits, so the follower never mistakes a start being sent for a lost one.
                reserved = claims.Where(c => starter.Reserve(c.JobId)).ToList();
                return new PlacementDecision(reserved, reasons);
            }, cancellationToken);
            if (won.Count == 0)
                return false;
            metrics.Placed(won.Count);
            foreach (var claim in won)
                _constraints.Remove(claim.JobId);
            // The won claims' reservations pass to their start; only those the store did not grant are released here.
            var sent = won.Select(c => c.JobId).ToHashSet();
            reserved = reserved.Where(c => !sent.Contains(c.JobId)).ToList();
            await StartInBackgroundAsync(won, jobs, specs, now, cancellationToken);
            return true;
        }
        finally
        {
            foreach (var claim in reserved)
                starter.Release(claim.JobId);
        }
    }

    private static void ParseSpecs(IReadOnlyDictionary<long, string> texts, Dictionary<long, JobSpec> parsed)
    {
        foreach (var (id, text) in texts)
            parsed[id] = Wire.Spec(text);
    }

    /// <summary>The job's constraints, from the cache or from its spec (read for this page).</summary>
    private JobConstraints? ConstraintsOf(JobRow job, Dictionary<long, JobSpec> parsed)
    {
        if (_constraints.TryGetValue(job.Id, out var known))
            return known;
        var constraints = parsed[job.Id].Constraints;
        return _constraints[job.Id] = constraints is { Node: null, Labels.Count: 0 } ? null : constraints;
    }

    public static bool Fits(NodeSnapshot node, JobConstraints? constraints) =>
        constraints is null
        || ((constraints.Node is null || constraints.Node == node.Name)
            && constraints.Labels.All(l => node.Labels.TryGetValue(l.Key, out var value) && value == l.Value));

    /// <summary>Why no node takes the job now, as precisely as can be said.</summary>
    public static string Explain(JobConstraints? constraints, IReadOnlyList<NodeSnapshot> snapshot, Dictionary<string, int> load, DateTimeOffset now)
    {
        if (snapshot.Count == 0)
            return "no node is configured or registered";
        IEnumerable<NodeSnapshot> fitting = snapshot;
        if (constraints?.Node is { } name)
        {
            fitting = fitting.Where(n => n.Name == name).ToList();
            if (!fitting.Any())
                return $"no node is named '{name}'";
        }
        if (constraints?.Labels is { Count: > 0 } labels)
        {
            fitting = fitting.Where(n => Fits(n, constraints)).ToList();
            if (!fitting.Any())
                return $"no node has the labels {string.Join(", ", labels.Select(l => $"{l.Key}={l.Value}"))}";
        }
        var up = fitting.Where(n => !n.Down).ToList();
        if (up.Count == 0)
            return "every node that fits is down";
        var open = up.Where(n => !n.Drained).ToList();
        if (open.Count == 0)
            return "every node that fits is drained";
        if (open.All(n => n.BackoffUntil > now))
            return "every node that fits answered 429 or failed lately; waiting before trying it again";
        return "every node that fits is busy (all slots taken)";
    }

    private static ActiveAttempt ToAttempt(JobRow job, JobSpec? spec, Claim claim, string owner, DateTimeOffset now) => new()
    {
        JobId = job.Id,
        Number = claim.Number,
        Node = claim.Node,
        BackendRef = claim.BackendRef,
        State = JobState.Placed,
        PlacedAt = Wire.Millis(now),
        JobState = JobState.Placed,
        MaxAttempts = job.MaxAttempts,
        Attempts = claim.Number,
        Failures = job.Failures,
        TimeoutMs = job.TimeoutMs,
        ParsedSpec = spec,
        FilesDir = job.FilesDir,
        JobCreatedAt = job.CreatedAt,
        TraceParent = job.TraceParent,
        Root = job.Root ?? job.Id,
        Owner = owner,
    };

    [LoggerMessage(Level = LogLevel.Error, Message = "Sending {Count} starts failed; the follower sends those that did not arrive again")]
    private partial void LogStartsFailed(Exception error, int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "A placement pass failed; the next one tries again")]
    private partial void LogPassFailed(Exception error);
}
