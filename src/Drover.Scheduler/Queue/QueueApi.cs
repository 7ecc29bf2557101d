using System.Globalization;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.Scheduler.Queue;

/// <summary><c>/scheduler/queue</c>: jobs not yet placed; is one still there and why; remove one.</summary>
internal static class QueueApi
{
    public static RouteGroupBuilder MapQueueApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/scheduler/queue").WithTags("Queue");
        group.MapGet("/", ListAsync)
            .WithSummary("List the queue")
            .WithDescription("A page of the jobs not yet placed, highest priority first, each with why it waits; ?after= (a job id) and ?limit= (1-10000, default 1000) page it.");
        group.MapGet("/{id:long}", GetAsync)
            .WithSummary("Why a job waits")
            .WithDescription("Whether the job is still queued and why (the jobs it depends on, or what placement last said); for a job that left, where it went. 404 when there is no such job.");
        group.MapDelete("/{id:long}", RemoveAsync)
            .WithSummary("Remove a job from the queue")
            .WithDescription("Cancels a queued job (stopped, reason cancelled) and deletes its uploaded files; 409 when it has already left the queue (kill it instead), 404 when there is no such job.");
        return group;
    }

    private static async Task<Ok<QueueList>> ListAsync(IJobStore store, long? after, int? limit, CancellationToken cancellationToken)
    {
        // In the order placement takes them (priority, then age), paged in that order: after=<id> continues behind that job.
        var jobs = await store.ListQueueAsync(after ?? 0, Math.Clamp(limit ?? 1000, 1, 10_000), cancellationToken);
        return TypedResults.Ok(new QueueList { Jobs = jobs.Select(Entry).ToList() });
    }

    private static async Task<Results<Ok<QueueEntry>, ProblemHttpResult>> GetAsync(long id, IJobStore store, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, cancellationToken);
        if (job is null)
            return JobsApi.UnknownJob(id);
        var waitingOn = job is { State: JobState.Queued, WaitingOn: > 0 } ? (await store.GetLinksAsync(id, cancellationToken)).WaitingOn : [];
        return TypedResults.Ok(Entry(job, waitingOn));
    }

    private static async Task<Results<Ok<QueueEntry>, ProblemHttpResult>> RemoveAsync(
        long id, JobControl control, CancellationToken cancellationToken)
    {
        if (await control.CancelAsync(id, cancellationToken) is not { } cancel)
            return JobsApi.UnknownJob(id);
        if (!cancel.Cancelled)
        {
            var state = Wire.Word(cancel.Job.State);
            return TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "The job is not in the queue",
                detail: string.Create(CultureInfo.InvariantCulture, $"Job {id} is {state}; kill it with POST /scheduler/jobs/{id}/kill."),
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["id"] = [$"job is {state}"] } });
        }
        return TypedResults.Ok(Entry(cancel.Job));
    }

    private static QueueEntry Entry(JobRow job) => Entry(job, []);

    private static QueueEntry Entry(JobRow job, IReadOnlyList<long> waitingOn)
    {
        var queued = job.State == JobState.Queued;
        return new QueueEntry
        {
            JobId = job.Id,
            RequestId = job.RequestId,
            Queued = queued,
            State = job.State,
            Status = job.Status,
            Priority = (int)job.Priority,
            Attempts = (int)job.Attempts,
            CreatedAt = Wire.Time(job.CreatedAt),
            NotBefore = queued ? Wire.Time(job.NotBefore) : null,
            WaitingOn = waitingOn,
            Reason = queued
                ? waitingOn.Count > 0 ? $"waiting on jobs {string.Join(", ", waitingOn)} to stop (depends_on)"
                : job.WaitingOn > 0 ? "waiting on its dependencies (depends_on)"
                : job.QueueReason ?? "waiting for the placement loop"
                : job.State == JobState.Stopped
                    ? $"left the queue: stopped ({Wire.Word(job.Status)}{(job.Reason is null ? "" : ", " + job.Reason)})"
                    : $"left the queue: {Wire.Word(job.State)} on {job.Node}",
        };
    }
}
