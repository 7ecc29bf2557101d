using System.Globalization;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Storage;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Events;

/// <summary>
/// <c>GET /scheduler/events</c>: server-sent events of job changes (<c>event: job</c>) and node changes (<c>event: node</c>:
/// registered or its info changed, drained, undrained; not filtered by job or root). Each event's <c>id:</c> is its sequence number in
/// the store's event log, so a client that reconnects with <c>Last-Event-ID</c> (or <c>?last_event_id=</c>) gets what
/// it missed and then the live stream. Without one, a stream filtered by <c>?job=</c> or <c>?root=</c> starts with
/// what the log still holds of that job or DAG; an unfiltered one starts with what happens next.
/// </summary>
internal static class EventsApi
{
    private const int Page = 500;

    public static RouteGroupBuilder MapEventsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/scheduler/events").WithTags("Events");
        group.MapGet("/", StreamAsync).Produces<JobEvent>(contentType: "text/event-stream").ProducesValidationProblem()
            .WithSummary("Stream events")
            .WithDescription("Server-sent events of job changes (event: job) and node changes (event: node); ?job= or ?root= narrows it to a job or a DAG, "
                + "and Last-Event-ID (or ?last_event_id=) resumes after that event. 400 for a bad event id.");
        return group;
    }

    private static async Task<IResult> StreamAsync(
        HttpContext context, IJobStore store, EventFeed feed, IOptions<SchedulerOptions> options, TimeProvider time, SchedulerMetrics metrics,
        long? job, long? root, long? last_event_id, CancellationToken cancellationToken)
    {
        var header = context.Request.Headers["Last-Event-ID"].ToString();
        long? after = last_event_id;
        if (header.Length > 0)
        {
            if (!long.TryParse(header, NumberStyles.None, CultureInfo.InvariantCulture, out var fromHeader))
                return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["Last-Event-ID"] = ["an event id is a whole number"] });
            after = fromHeader;
        }
        if (after is < 0)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["last_event_id"] = ["an event id is 0 or more"] });
        after ??= job is null && root is null ? await store.LastEventAsync(cancellationToken) : 0;

        context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.WriteAsync(": drover events\n\n", cancellationToken);
        await response.Body.FlushAsync(cancellationToken);
        var last = after.Value;
        var text = new StringBuilder();
        metrics.StreamOpened();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Taken before reading: a commit after the read completes it, so no event is missed between the two.
                var next = feed.Next;
                var rows = await store.ReadEventsAsync(last, job, root, Page, cancellationToken);
                if (rows.Count > 0)
                {
                    text.Clear();
                    foreach (var row in rows)
                    {
                        text.Append("id: ").Append(row.Seq.ToString(CultureInfo.InvariantCulture)).Append('\n')
                            .Append("event: ").Append(row.Kind).Append('\n')
                            .Append("data: ").Append(row.Kind == "node"
                                ? JsonSerializer.Serialize(new NodeEvent { Seq = row.Seq, At = Wire.Time(row.At), Node = row.Node ?? "", Change = row.State ?? "" }, DroverJson.Options)
                                : JsonSerializer.Serialize(ToEvent(row), DroverJson.Options)).Append("\n\n");
                        last = row.Seq;
                    }
                    await response.WriteAsync(text.ToString(), cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                    if (rows.Count == Page)
                        continue;
                }
                try
                {
                    await next.WaitAsync(options.Value.EventHeartbeat, time, cancellationToken);
                }
                catch (TimeoutException)
                {
                    await response.WriteAsync(": heartbeat\n\n", cancellationToken);
                    await response.Body.FlushAsync(cancellationToken);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // the client went away
        }
        finally
        {
            metrics.StreamClosed();
        }
        return Results.Empty;
    }

    private static JobEvent ToEvent(EventRow row) => new()
    {
        Seq = row.Seq,
        Kind = row.Kind,
        At = Wire.Time(row.At),
        JobId = row.JobId ?? 0,
        Root = row.Root,
        Parent = row.Parent,
        State = Wire.TryParse<JobState>(row.State, out var state) ? state : JobState.Queued,
        Status = Wire.TryParse<JobStatus>(row.Status, out var status) ? status : JobStatus.Unknown,
        Reason = Wire.ParseOptional<StopReason>(row.Reason),
        Node = row.Node,
    };
}
