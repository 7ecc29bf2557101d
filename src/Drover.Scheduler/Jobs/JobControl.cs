using Drover.Contracts;
using Drover.Scheduler.Following;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// What a user asks of a job's life, each decided here: kill it (and what hangs below it), cancel it while it is
/// queued, retry it after it failed. The endpoints map what comes back to HTTP.
/// </summary>
internal sealed class JobControl(IJobStore store, Follower follower, TimeProvider time)
{
    /// <summary>
    /// Stops the job wherever it is (with <paramref name="descendants"/>, its children and dependents first). Null for
    /// an unknown job; else the job as it is after the kill, and whether it has stopped or the stop is only recorded.
    /// </summary>
    public async Task<KillResult?> KillAsync(long id, bool descendants, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, cancellationToken);
        if (job is null)
            return null;
        if (descendants)
        {
            // Deepest first, so that each is stopped as killed rather than by the failure spreading from above it.
            foreach (var descendant in await store.ListDescendantsAsync(id, cancellationToken))
                if (await store.GetJobAsync(descendant, cancellationToken) is { State: not JobState.Stopped } below)
                    await StopAsync(below, cancellationToken);
            job = (await store.GetJobAsync(id, cancellationToken))!;
        }
        var stopped = job.State == JobState.Stopped || await StopAsync(job, cancellationToken);
        return new KillResult((await store.GetJobAsync(id, cancellationToken))!, stopped);
    }

    /// <summary>
    /// Takes a queued job out of the queue (stopped, <c>cancelled</c>; its commit deletes its uploaded files). Null for an
    /// unknown job; else the job as it is after, and whether it was cancelled (false: it had left the queue).
    /// </summary>
    public async Task<CancelResult?> CancelAsync(long id, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, cancellationToken);
        if (job is null)
            return null;
        var cancelled = await store.StopQueuedAsync(id, Wire.Word(StopReason.Cancelled), Wire.Millis(time.GetUtcNow()), cancellationToken);
        return new CancelResult((await store.GetJobAsync(id, cancellationToken))!, cancelled);
    }

    /// <summary>Queues a failed job again with the dependents that stopped only because of it.</summary>
    public Task<RetryResult> RetryAsync(long id, CancellationToken cancellationToken) =>
        store.RetryAsync(id, Wire.Millis(time.GetUtcNow()), cancellationToken);

    /// <summary>Stops one job, queued or on a node. True once it has stopped; false when the stop is asked for but not yet seen.</summary>
    private async Task<bool> StopAsync(JobRow job, CancellationToken cancellationToken)
    {
        if (job.State == JobState.Queued
            && await store.StopQueuedAsync(job.Id, Wire.Word(StopReason.Killed), Wire.Millis(time.GetUtcNow()), cancellationToken))
            return true;
        if (!await store.RequestStopAsync(job.Id, Wire.Word(StopReason.Killed), cancellationToken))
        {
            // Neither queued nor running any more: stopped meanwhile, or placed from the queue just now.
            var again = await store.GetJobAsync(job.Id, cancellationToken);
            return again is null || again.State == JobState.Stopped || (again.State == JobState.Queued && await StopAsync(again, cancellationToken));
        }
        var active = await store.ListActiveAttemptsOfJobsAsync([job.Id], cancellationToken);
        if (active.Count == 0)
            return true;
        if (!await follower.StopOnNodeAsync(active[0], cancellationToken))
            return false;
        return (await store.GetJobAsync(job.Id, cancellationToken))?.State == JobState.Stopped;
    }
}

/// <summary>The job after a kill; <see cref="Stopped"/> false when the stop is recorded and will reach its node later.</summary>
internal sealed record KillResult(JobRow Job, bool Stopped);

/// <summary>The job after a cancel; <see cref="Cancelled"/> false when it was no longer queued.</summary>
internal sealed record CancelResult(JobRow Job, bool Cancelled);
