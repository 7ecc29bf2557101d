using System.Collections.Concurrent;
using System.Globalization;
using Drover.Contracts;
using Drover.Scheduler.Following;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Placement;

/// <summary>
/// Sends attempts to their nodes and records what came of it. The store is never held while a node is called:
/// an attempt is first claimed (committed as <c>placed</c>), then sent, then settled in a new transaction.
/// </summary>
internal sealed partial class Starter(
    INodeBackend backend, NodeRegistry nodes, IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time,
    PublicAddress address, NodeReports reportsOfNodes, SchedulerMetrics metrics, ILogger<Starter> logger)
{
    private readonly ConcurrentDictionary<long, byte> _inFlight = new();
    private readonly SchedulerOptions _options = options.Value;

    /// <summary>
    /// A start of this job is being sent by this process. The follower leaves such attempts alone; a placed attempt
    /// that is not in flight (e.g. after a restart) is one whose start may or may not have arrived: it asks the node.
    /// </summary>
    public bool InFlight(long jobId) => _inFlight.ContainsKey(jobId);

    public bool Reserve(long jobId) => _inFlight.TryAdd(jobId, 0);

    public void Release(long jobId) => _inFlight.TryRemove(jobId, out _);

    /// <summary>Sends each attempt's start (several at once) and settles the outcomes in one transaction.</summary>
    public async Task StartAllAsync(IReadOnlyList<ActiveAttempt> attempts, CancellationToken cancellationToken)
    {
        var results = new (ActiveAttempt Attempt, StartResult Result)[attempts.Count];
        await Parallel.ForEachAsync(Enumerable.Range(0, attempts.Count),
            new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken },
            async (i, token) => results[i] = (attempts[i], await SendAsync(attempts[i], token)));
        await SettleAsync(results, cancellationToken);
    }

    private async Task<StartResult> SendAsync(ActiveAttempt attempt, CancellationToken cancellationToken)
    {
        // The start continues the trace of the request that submitted the job: the node sees its traceparent.
        using var activity = Telemetry.ContinueTrace("drover.job.start", attempt.TraceParent);
        var node = nodes.Find(attempt.Node);
        if (node is null)
            return new StartResult(StartOutcome.NotDelivered, Detail: $"node {attempt.Node} is not known");
        // The placement pass hands its parsed spec on; an attempt sent again (found orphaned by the follower) reads it here.
        var spec = attempt.ParsedSpec
            ?? ((await store.GetSpecsAsync([attempt.JobId], cancellationToken)).TryGetValue(attempt.JobId, out var text) ? Wire.Spec(text) : null);
        if (spec is null)
            return new StartResult(StartOutcome.Rejected, Detail: $"job {attempt.JobId} is gone from the store");
        var environment = new Dictionary<string, string>(spec.Environment, StringComparer.Ordinal)
        {
            ["DROVER_JOB_ID"] = attempt.JobId.ToString(CultureInfo.InvariantCulture),
            ["DROVER_ATTEMPT"] = attempt.Number.ToString(CultureInfo.InvariantCulture),
            ["DROVER_URL"] = address.Url,
        };
        if (!string.IsNullOrEmpty(_options.JobTokenKey))
            environment["DROVER_TOKEN"] = JobTokens.Issue(attempt.JobId, (int)attempt.Number, attempt.Root, _options.JobTokenKey);
        var request = new NodeJobRequest
        {
            Commands = spec.Commands,
            Environment = environment,
            RequestId = attempt.BackendRef,
            TimeoutSeconds = spec.TimeoutSeconds,
            StopWhenDisconnected = spec.StopWhenDisconnected,
        };
        var files = attempt.FilesDir is { } dir && spec.Files.Count > 0
            ? spec.Files.Select(f => Path.Combine(dir, f)).ToList()
            : (IReadOnlyList<string>)[];
        return await backend.StartAsync(node.Target, request, files, cancellationToken);
    }

    private async Task SettleAsync(IReadOnlyList<(ActiveAttempt Attempt, StartResult Result)> results, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var reports = new List<(ActiveAttempt, NodeJobStatus)>();
        var changes = new List<AttemptChange>();
        var nodeRefs = new List<NodeRefRecord>();
        var busy = new List<Claim>();
        var unreachable = new List<Claim>();
        foreach (var (attempt, result) in results)
        {
            var claim = new Claim(attempt.JobId, (int)attempt.Number, attempt.Node);
            switch (result.Outcome)
            {
                case StartOutcome.Started:
                    nodes.Seen(attempt.Node);
                    if (result.NodeRef is { } nodeRef)
                        nodeRefs.Add(new NodeRefRecord(attempt.JobId, (int)attempt.Number, nodeRef));
                    if (result.Status is { } status)
                        reports.Add((attempt, status));
                    break;
                case StartOutcome.Busy:
                    nodes.BackOff(attempt.Node);
                    busy.Add(claim);
                    break;
                case StartOutcome.NotDelivered:
                    nodes.Failed(attempt.Node, result.Detail);
                    nodes.BackOff(attempt.Node);
                    unreachable.Add(claim);
                    LogStartFailed(attempt.BackendRef, attempt.Node, result.Detail);
                    break;
                case StartOutcome.Rejected:
                    changes.Add(Lifecycle.PlacementFailed(attempt, $"node {attempt.Node} refused the job: {result.Detail}", now, _options));
                    LogStartFailed(attempt.BackendRef, attempt.Node, result.Detail);
                    break;
                case StartOutcome.Unknown:
                    // It may be running there: leave it placed; the follower asks the node (or re-sends the same start).
                    nodes.Failed(attempt.Node, result.Detail);
                    nodes.BackOff(attempt.Node);
                    LogStartFailed(attempt.BackendRef, attempt.Node, result.Detail);
                    break;
            }
        }
        var applied = await reportsOfNodes.ApplyAsync(reports, changes, cancellationToken, nodeRefs);
        metrics.Applied(applied, results.Select(r => r.Attempt));
        await store.UnclaimAsync(busy, Wire.Millis(now), "the chosen node was full (429); trying another", cancellationToken);
        await store.UnclaimAsync(unreachable, Wire.Millis(now), "the chosen node could not be reached; trying another", cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Starting {BackendRef} on {Node} failed: {Detail}")]
    private partial void LogStartFailed(string backendRef, string node, string? detail);
}
