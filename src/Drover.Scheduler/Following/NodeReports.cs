using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Following;

/// <summary>
/// Records what nodes report about attempts: a start's answer, a push, a poll. Each report is decided
/// (<see cref="Lifecycle.FromNode"/>) against the attempt as it was read, and written as a compare-and-set on that
/// state. A report of a fact the node already knows must not be dropped because the attempt moved on in between:
/// a job that ends within milliseconds is pushed as <c>stopped</c> while its start's own <c>running</c> is being
/// recorded, and the push, decided against <c>placed</c>, no longer matches. Dropped, it waited for the next poll
/// (2 s a step of a chain). So a report whose change did not apply is decided again against the attempt read anew.
/// </summary>
internal sealed class NodeReports(IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time)
{
    // An attempt moves through at most placed, running and stopped: two fresh reads see the last of them.
    private const int Rereads = 2;

    /// <summary>
    /// Applies the reports with <paramref name="decided"/> (changes made here, such as a lost attempt) in one transaction,
    /// with the node references to save; reports that met a changed attempt are decided again. Returns what was applied.
    /// </summary>
    public async Task<IReadOnlyList<AttemptChange>> ApplyAsync(
        IReadOnlyList<(ActiveAttempt Attempt, NodeJobStatus Status)> reports, IReadOnlyList<AttemptChange> decided,
        CancellationToken cancellationToken, IReadOnlyList<NodeRefRecord>? nodeRefs = null)
    {
        await FetchRetryRulesAsync(reports, cancellationToken);
        var now = time.GetUtcNow();
        var pending = Decide(reports, now);
        var applied = (await store.ApplyAsync([.. decided, .. pending.Select(p => p.Change)], Wire.Millis(now), cancellationToken, nodeRefs)).ToList();
        for (var round = 0; round < Rereads; round++)
        {
            var done = applied.ToHashSet(ReferenceEqualityComparer.Instance);
            var missed = pending.Where(p => !done.Contains(p.Change)).ToList();
            if (missed.Count == 0)
                break;
            var fresh = (await store.ListActiveAttemptsOfJobsAsync([.. missed.Select(p => p.Attempt.JobId).Distinct()], cancellationToken))
                .ToDictionary(a => (a.JobId, a.Number));
            var again = new List<(ActiveAttempt, NodeJobStatus)>();
            foreach (var (attempt, status, _) in missed)
            {
                // Gone (stopped) or unchanged: the report has nothing left to say, or lost for a reason a new read cannot mend.
                if (!fresh.TryGetValue((attempt.JobId, attempt.Number), out var current) || (current.State == attempt.State && current.JobState == attempt.JobState))
                    continue;
                current.ParsedSpec ??= attempt.ParsedSpec;
                again.Add((current, status));
            }
            now = time.GetUtcNow();
            pending = Decide(again, now);
            if (pending.Count == 0)
                break;
            applied.AddRange(await store.ApplyAsync([.. pending.Select(p => p.Change)], Wire.Millis(now), cancellationToken));
        }
        return applied;
    }

    private List<(ActiveAttempt Attempt, NodeJobStatus Status, AttemptChange Change)> Decide(
        IEnumerable<(ActiveAttempt Attempt, NodeJobStatus Status)> reports, DateTimeOffset now)
    {
        var decided = new List<(ActiveAttempt, NodeJobStatus, AttemptChange)>();
        foreach (var (attempt, status) in reports)
        {
            if (Lifecycle.FromNode(attempt, status, now, options.Value) is { } change)
                decided.Add((attempt, status, change));
        }
        return decided;
    }

    /// <summary>Which reasons a job retries on is in its spec, which lists of attempts do not read: fetched for those that failed.</summary>
    private async Task FetchRetryRulesAsync(IReadOnlyList<(ActiveAttempt Attempt, NodeJobStatus Status)> reports, CancellationToken cancellationToken)
    {
        var failed = reports.Where(r => r.Attempt.ParsedSpec is null && r.Status is { State: JobState.Stopped, Status: JobStatus.Error })
            .Select(r => r.Attempt).ToList();
        if (failed.Count == 0)
            return;
        var specs = await store.GetSpecsAsync([.. failed.Select(a => a.JobId).Distinct()], cancellationToken);
        foreach (var attempt in failed)
        {
            if (specs.TryGetValue(attempt.JobId, out var spec))
                attempt.ParsedSpec = Wire.Spec(spec);
        }
    }
}
