using System.Diagnostics.Metrics;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;

namespace Drover.Scheduler.Metrics;

/// <summary>
/// The scheduler's own metrics (meter <c>Drover.Scheduler</c>). What happens on the job path is counted in memory as
/// it happens (a counter's add costs nanoseconds); what is held in the store (jobs by state, the queue, load by node)
/// is read from it when Prometheus scrapes, once a scrape, never on a request.
/// </summary>
internal sealed partial class SchedulerMetrics
{
    private static readonly TimeSpan SnapshotLifetime = TimeSpan.FromSeconds(1);

    private readonly Counter<long> _submitted;
    private readonly Counter<long> _placements;
    private readonly Counter<long> _retries;
    private readonly Counter<long> _attemptsEnded;
    private readonly Histogram<double> _startLatency;
    private readonly UpDownCounter<long> _eventStreams;
    private readonly IJobStore _store;
    private readonly NodeRegistry _nodes;
    private readonly TimeProvider _time;
    private readonly ILogger<SchedulerMetrics> _logger;
    private readonly Lock _lock = new();
    private (JobCounts Counts, DateTimeOffset At)? _snapshot;

    public SchedulerMetrics(IMeterFactory meters, IJobStore store, NodeRegistry nodes, TimeProvider time, ILogger<SchedulerMetrics> logger)
    {
        _store = store;
        _nodes = nodes;
        _time = time;
        _logger = logger;
        var meter = meters.Create(Telemetry.SourceName("scheduler"));
        _submitted = meter.CreateCounter<long>("drover.jobs.submitted", "{job}", "Jobs accepted, DAG members included (a repeated request_id is not counted)");
        _placements = meter.CreateCounter<long>("drover.placements", "{attempt}", "Attempts claimed for a node by the placement loop");
        _retries = meter.CreateCounter<long>("drover.retries", "{attempt}", "Attempts that ended in error and sent their job back to the queue, by the attempt's reason");
        _attemptsEnded = meter.CreateCounter<long>("drover.attempts.ended", "{attempt}", "Attempts that stopped, by status and reason");
        _startLatency = meter.CreateHistogram<double>("drover.job.start_latency", "s", "From a job's submission to the start of its first attempt on a node",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600] });
        _eventStreams = meter.CreateUpDownCounter<long>("drover.event_streams", "{stream}", "Server-sent event streams open (GET /scheduler/events)");

        meter.CreateObservableGauge("drover.jobs", ObserveJobs, "{job}", "Jobs in the store by state, status and reason (stopped ones by how they ended)");
        meter.CreateObservableGauge("drover.queue.depth", () => Count(c => c.State == JobState.Queued), "{job}", "Jobs queued, waiting for a node or their dependencies");
        meter.CreateObservableGauge("drover.queue.oldest_age", ObserveOldest, "s", "Age of the oldest queued job (0 with none queued)");
        meter.CreateObservableGauge("drover.node.up", () => ObserveNodes(n => n.Down ? 0 : 1), "1", "1 while the node is healthy (heard from within the heartbeat timeout)");
        meter.CreateObservableGauge("drover.node.drained", () => ObserveNodes(n => n.Drained ? 1 : 0), "1", "1 while the node is drained");
        meter.CreateObservableGauge("drover.node.slots", () => ObserveNodes(n => n.Slots), "{slot}", "Slots the node announces (0: it does not say)");
        meter.CreateObservableGauge("drover.node.free_slots", ObserveFreeSlots, "{slot}", "Slots not taken by placed or running attempts");
    }

    public void Submitted(int count)
    {
        if (count > 0)
            _submitted.Add(count);
    }

    public void Placed(int count)
    {
        if (count > 0)
            _placements.Add(count);
    }

    public void StreamOpened() => _eventStreams.Add(1);

    public void StreamClosed() => _eventStreams.Add(-1);

    /// <summary>Counts what the store applied; <paramref name="attempts"/> are those the changes were made from.</summary>
    public void Applied(IReadOnlyList<AttemptChange> applied, IEnumerable<ActiveAttempt> attempts)
    {
        Dictionary<(long, long), ActiveAttempt>? byAttempt = null;
        foreach (var change in applied)
        {
            if (change.AttemptState == JobState.Stopped)
            {
                _attemptsEnded.Add(1, new("status", Wire.Word(change.AttemptStatus)), new("reason", change.AttemptReason ?? ""));
                if (change.JobState == JobState.Queued)
                    _retries.Add(1, new KeyValuePair<string, object?>("reason", change.AttemptReason ?? ""));
            }
            // The first attempt's start, learnt with its first report (running, or already stopped).
            if (change is { Number: 1, ExpectedAttemptState: JobState.Placed, StartedAt: { } started })
            {
                byAttempt ??= attempts.ToDictionary(a => (a.JobId, a.Number));
                if (byAttempt.TryGetValue((change.JobId, 1), out var attempt) && attempt.JobCreatedAt > 0)
                    _startLatency.Record(Math.Max(0, started - attempt.JobCreatedAt) / 1000.0);
            }
        }
    }

    private IEnumerable<Measurement<long>> ObserveJobs() =>
        Counts()?.ByState.Select(c => new Measurement<long>(c.Count,
            new("state", Wire.Word(c.State)), new("status", Wire.Word(c.Status)), new("reason", c.Reason ?? ""))) ?? [];

    private long Count(Func<JobCount, bool> which) => Counts()?.ByState.Where(which).Sum(c => c.Count) ?? 0;

    private double ObserveOldest() =>
        Counts()?.OldestQueuedAt is { } oldest ? Math.Max(0, _time.GetUtcNow().ToUnixTimeMilliseconds() - oldest) / 1000.0 : 0;

    private IEnumerable<Measurement<long>> ObserveNodes(Func<NodeSnapshot, long> value) =>
        _nodes.Snapshot().Select(n => new Measurement<long>(value(n), new KeyValuePair<string, object?>("node", n.Name)));

    private IEnumerable<Measurement<long>> ObserveFreeSlots()
    {
        var active = Counts()?.ActiveByNode;
        return _nodes.Snapshot().Where(n => n.Slots > 0).Select(n => new Measurement<long>(
            Math.Max(0, n.Slots - (active?.GetValueOrDefault(n.Name) ?? 0)), new KeyValuePair<string, object?>("node", n.Name)));
    }

    /// <summary>One read of the store shared by the gauges of a scrape (they are observed one after another).</summary>
    private JobCounts? Counts()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            if (_snapshot is { } known && now - known.At < SnapshotLifetime)
                return known.Counts;
            try
            {
                // Gauges are observed synchronously; Microsoft.Data.Sqlite completes its async calls synchronously anyway.
                var counts = _store.CountJobsAsync(CancellationToken.None).GetAwaiter().GetResult();
                _snapshot = (counts, now);
                return counts;
            }
            catch (Exception e)
            {
                LogCountFailed(e);
                return null;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the job counts for the metrics failed; this scrape shows none")]
    private partial void LogCountFailed(Exception error);
}
