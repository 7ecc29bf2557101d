using Drover.Contracts;
using Drover.Scheduler.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.Scheduler.Jobs;

/// <summary><c>GET /scheduler/jobs/summary</c>: counts, rates and the latest failures, for the dashboard's overview.</summary>
internal static class SummaryApi
{
    private const int Failures = 10;

    public static RouteHandlerBuilder MapJobSummary(this RouteGroupBuilder jobs) =>
        jobs.MapGet("/summary", SummaryAsync)
            .WithSummary("Summarize jobs")
            .WithDescription("Jobs by state and by status, the queue's depth, jobs submitted and stopped in each of the last ?minutes= minutes "
                + "(1-1440, default 15, oldest first) and the latest failures with their reasons. 400 for a bad minutes.");

    private static async Task<Results<Ok<JobSummary>, ValidationProblem>> SummaryAsync(
        IJobStore store, TimeProvider time, int? minutes, CancellationToken cancellationToken)
    {
        if (minutes is < 1 or > 1440)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["minutes"] = ["minutes is between 1 and 1440"] });
        var span = minutes ?? 15;
        var now = time.GetUtcNow();
        var thisMinute = Wire.Millis(now) / 60_000;
        var first = thisMinute - span + 1;
        var rows = await store.SummarizeAsync(first * 60_000, Failures, cancellationToken);

        var byState = Enum.GetValues<JobState>().ToDictionary(Wire.Word, _ => 0L);
        var byStatus = Enum.GetValues<JobStatus>().ToDictionary(Wire.Word, _ => 0L);
        foreach (var count in rows.Counts)
        {
            byState[count.State] = byState.GetValueOrDefault(count.State) + count.Count;
            byStatus[count.Status] = byStatus.GetValueOrDefault(count.Status) + count.Count;
        }
        return TypedResults.Ok(new JobSummary
        {
            At = now,
            ByState = byState,
            ByStatus = byStatus,
            Total = rows.Counts.Sum(c => c.Count),
            QueueDepth = byState[Wire.Word(JobState.Queued)],
            Minutes = span,
            SubmittedPerMinute = PerMinute(rows.Submitted, first, span),
            FinishedPerMinute = PerMinute(rows.Finished, first, span),
            RecentFailures = rows.Failures.Select(Wire.StatusView).ToList(),
        });
    }

    private static long[] PerMinute(IReadOnlyList<MinuteCount> counts, long first, int span)
    {
        var series = new long[span];
        foreach (var count in counts)
        {
            if (count.Minute - first is >= 0 and var i && i < span)
                series[i] = count.Count;
        }
        return series;
    }
}
