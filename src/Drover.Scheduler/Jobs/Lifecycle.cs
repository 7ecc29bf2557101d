using Drover.Contracts;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// What a job and its attempt become when a node reports on the attempt: the one place that decides between
/// running on, stopping, and going back to the queue for a retry.
/// </summary>
internal static class Lifecycle
{
    /// <summary>
    /// A lost node (or one that restarted under the job) is not the job's fault, so it does not use up
    /// <c>max_attempts</c>; this many extra attempts bound a job that keeps landing on dying nodes.
    /// </summary>
    public const int LostAttemptAllowance = 5;

    /// <summary>The change a node's report makes, or null when it tells nothing new.</summary>
    public static AttemptChange? FromNode(ActiveAttempt attempt, NodeJobStatus status, DateTimeOffset now, SchedulerOptions options)
    {
        switch (status.State)
        {
            case JobState.Queued or JobState.Placed:
                return null; // recorded on the node, not started: still placed
            case JobState.Running:
                if (attempt.State == JobState.Running && status.Message == attempt.Message)
                    return null;
                return new AttemptChange
                {
                    JobId = attempt.JobId,
                    Number = (int)attempt.Number,
                    ExpectedAttemptState = attempt.State,
                    ExpectedJobState = attempt.JobState,
                    AttemptState = JobState.Running,
                    AttemptStatus = JobStatus.Unknown,
                    StartedAt = Wire.Millis(status.StartedAt ?? now),
                    Message = status.Message,
                    JobState = JobState.Running,
                    JobStatus = JobStatus.Unknown,
                };
            default:
                return Finish(attempt, status.Status, status.Reason, status.ExitCode, status.StartedAt, status.FinishedAt ?? now, status.Message, now, options);
        }
    }

    /// <summary>
    /// The node cannot be reached and is down: the attempt is lost and the job goes elsewhere (or stops, when a stop
    /// was asked for). The attempt says <c>node_lost</c> whatever was asked of it, since nobody saw it end: that is
    /// what the node is asked about, and killed by, when it comes back (<see cref="Following.Follower.FenceAsync"/>).
    /// </summary>
    public static AttemptChange Lost(ActiveAttempt attempt, DateTimeOffset now, SchedulerOptions options) =>
        Finish(attempt, JobStatus.Error, StopReason.NodeLost, null, null, now, null, now, options) with { AttemptReason = Wire.Word(StopReason.NodeLost) };

    /// <summary>The node refused the job for good (it is invalid there): the attempt fails without running.</summary>
    public static AttemptChange PlacementFailed(ActiveAttempt attempt, string detail, DateTimeOffset now, SchedulerOptions options) =>
        Finish(attempt, JobStatus.Error, StopReason.PlacementFailed, null, null, now, detail, now, options);

    private static AttemptChange Finish(
        ActiveAttempt attempt, JobStatus status, StopReason? nodeReason, int? exitCode, DateTimeOffset? startedAt,
        DateTimeOffset finishedAt, string? message, DateTimeOffset now, SchedulerOptions options)
    {
        var change = new AttemptChange
        {
            JobId = attempt.JobId,
            Number = (int)attempt.Number,
            ExpectedAttemptState = attempt.State,
            ExpectedJobState = attempt.JobState,
            AttemptState = JobState.Stopped,
            AttemptStatus = JobStatus.Good,
            ExitCode = exitCode,
            StartedAt = startedAt is { } s ? Wire.Millis(s) : null,
            FinishedAt = Wire.Millis(finishedAt),
            Message = message,
            JobState = JobState.Stopped,
            JobStatus = JobStatus.Good,
            JobFinishedAt = Wire.Millis(finishedAt),
            FilesDir = attempt.FilesDir,
        };
        if (status == JobStatus.Good)
            return change;

        // The scheduler's own reason wins: a kill it sent for a timeout is a timeout, not a kill.
        var reason = Wire.ParseOptional<StopReason>(attempt.StopRequest) ?? nodeReason ?? StopReason.ExitCode;
        change = change with { AttemptStatus = JobStatus.Error, AttemptReason = Wire.Word(reason), JobStatus = JobStatus.Error };
        if (attempt.JobStopRequest is { } stop)
            return change with { JobReason = stop };

        var lost = reason is StopReason.NodeLost or StopReason.NodeRestarted;
        var failures = (int)attempt.Failures + (lost ? 0 : 1);
        var retryable = lost || RetriedOn(reason, attempt.ParsedSpec?.RetryOn);
        var retry = lost
            ? attempt.Attempts < attempt.MaxAttempts + LostAttemptAllowance
            : retryable && failures < attempt.MaxAttempts;
        if (retry)
        {
            var wait = lost ? TimeSpan.Zero : Backoff(failures, options);
            return change with
            {
                JobState = JobState.Queued,
                JobStatus = JobStatus.Unknown,
                JobFinishedAt = null,
                FailuresDelta = lost ? 0 : 1,
                NotBefore = Wire.Millis(now + wait),
                QueueReason = $"attempt {attempt.Number} on {attempt.Node} ended with {Wire.Word(reason)}; retrying" +
                    (wait > TimeSpan.Zero ? $" after {wait.TotalSeconds:0.###}s" : ""),
                FilesDir = null,
            };
        }
        // retries_exhausted only when retries were allowed and ran out; a reason not retried stops the job as itself.
        var jobReason = !lost && retryable && attempt.MaxAttempts > 1 ? StopReason.RetriesExhausted : reason;
        return change with { JobReason = Wire.Word(jobReason), FailuresDelta = lost ? 0 : 1 };
    }

    /// <summary>The reasons retried when a job does not say (<c>retry_on</c>): every failure but a timeout.</summary>
    public static readonly IReadOnlyList<StopReason> DefaultRetryOn = [StopReason.ExitCode, StopReason.Killed, StopReason.PlacementFailed];

    /// <summary>What <c>retry_on</c> may name: the reasons a failed attempt can end with that are the job's own.</summary>
    public static readonly IReadOnlyList<StopReason> Retryable = [StopReason.ExitCode, StopReason.TimedOut, StopReason.Killed, StopReason.PlacementFailed];

    /// <summary>Whether an attempt that failed for <paramref name="reason"/> is retried (while attempts remain).</summary>
    public static bool RetriedOn(StopReason reason, IReadOnlyList<StopReason>? retryOn) => (retryOn ?? DefaultRetryOn).Contains(reason);

    /// <summary>Exponential backoff with "equal jitter": half the delay is fixed, half random, so retries spread out.</summary>
    public static TimeSpan Backoff(int failures, SchedulerOptions options)
    {
        var exponent = Math.Min(failures - 1, 30);
        var full = Math.Min(options.RetryBackoffMax.TotalMilliseconds, options.RetryBackoffBase.TotalMilliseconds * Math.Pow(2, exponent));
#pragma warning disable CA5394 // jitter, not security
        return TimeSpan.FromMilliseconds(full / 2 + Random.Shared.NextDouble() * full / 2);
#pragma warning restore CA5394
    }
}
