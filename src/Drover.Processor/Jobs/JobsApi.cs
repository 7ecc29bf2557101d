using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Drover.Processor.Jobs;

/// <summary>The node protocol's job calls (docs/node-protocol.md).</summary>
internal static class JobsApi
{
    private const int MaxMessageLength = 4096;
    private const int MaxMessageBodySize = 64 * 1024;

    /// <summary>The seed's example job, shown in the OpenAPI document.</summary>
    private const string SeedJob = """{"commands": [{"exec": ["curl", "https://www.google.com/"]}], "environment": {}, "request_id": "123456789"}""";

    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        // The seed spells the same calls /processor/job/...: the same code answers both, and only the plural
        // spelling is described in the OpenAPI document (one operation, not two).
        app.MapJobRoutes("/processor/job").ExcludeFromDescription();
        return app.MapJobRoutes("/processor/jobs").WithTags("Jobs");
    }

    private static RouteGroupBuilder MapJobRoutes(this IEndpointRouteBuilder app, string prefix)
    {
        var group = app.MapGroup(prefix);
        // No .Accepts(): it would make routing answer other content types with a bare 415 that names no field.
        group.MapPost("/new", JobSubmission.SubmitAsync)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status429TooManyRequests)
            .WithSummary("Submit a job")
            .WithDescription("Records the job on disk, then starts it: 201 with its status, or 200 with the job already recorded under the same request_id. "
                + "Send JSON, or multipart/form-data with the JSON in a part named 'spec' and files for the work directory; "
                + "a JSON array of jobs (feature batch_start, at most 256) is answered 200 with one {status, job, problem} per item in order, "
                + "each what that job alone would have been answered, once every accepted one is on disk; "
                + "400 names the bad field, 413 the body is too large, 415 another content type, 429 (with Retry-After) every slot is busy.")
            .WithRequestExample("application/json", SeedJob, typeof(NodeJobRequest));
        group.MapGet("/status", ListStatus)
            .WithSummary("List the jobs' statuses")
            .WithDescription("Every job of this node, or with ?request_id=a&request_id=b (or a,b) only those it knows: the scheduler's batched poll.");
        group.MapPost("/status", QueryStatusAsync)
            .WithSummary("Ask for the statuses of many jobs")
            .WithDescription("The batched poll with the ids in the body (feature batch_status): {\"request_ids\": [...]} of at most 1000 ids, "
                + "answered as GET /status is, with only the jobs this node knows; 400 names the bad field, 413 the body is too large.");
        group.MapGet("/{request_id}/status", GetStatus)
            .WithSummary("Get a job's status")
            .WithDescription("The job's state (queued, running, stopped), status (unknown, good, error), exit code, stop reason and last message; 404 when this node has no such job.");
        group.MapPost("/{request_id}/status", PostMessageAsync)
            .WithSummary("Post a progress message")
            .WithDescription("A running job records a message, {\"message\": \"...\"} or a text/plain body of at most 4096 characters, shown in its status; "
                + "400 names the bad field, 404 no such job, 413 the body is over 64 KiB.");
        group.MapGet("/{request_id}/log", JobLog.Get)
            .WithSummary("Read a job's log")
            .WithDescription("The job's output as text/plain from byte ?offset= (default 0); with ?follow=true it streams new output until the job stops. "
                + "400 for a bad offset or follow, 404 no such job.");
        group.MapPost("/{request_id}/kill", KillAsync)
            .WithSummary("Kill a job")
            .WithDescription("Stops the job's processes and answers 200 with its status once it has stopped (at once when it already had); 404 no such job.");
        return group;
    }

    /// <summary>Every job, or with <c>?request_id=a&amp;request_id=b</c> (or <c>a,b</c>) only those: the scheduler's batched poll.</summary>
    private static Ok<NodeJobList> ListStatus(HttpRequest request, JobStore store)
    {
        var wanted = request.Query["request_id"];
        var jobs = wanted.Count == 0
            ? store.All.Where(j => j.Recorded.IsCompletedSuccessfully).Select(j => j.Status).ToList()
            : wanted.SelectMany(ids => (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                .Distinct(StringComparer.Ordinal)
                .Select(id => store.TryGetRecorded(id, out var job) ? job.Status : null)
                .OfType<NodeJobStatus>()
                .ToList();
        return TypedResults.Ok(new NodeJobList { Jobs = jobs });
    }

    /// <summary>The batched poll with the ids in a JSON body, so that a busy node's attempts fit in one call and no URL limit applies.</summary>
    private static async Task<Results<Ok<NodeJobList>, ValidationProblem, ProblemHttpResult>> QueryStatusAsync(
        HttpRequest request, JobStore store, CancellationToken cancellationToken)
    {
        // About 40 bytes an id: room for the most ids allowed, and never an upload-sized body read for a poll.
        const int maxBody = NodeBatchLimits.MaxStatusQuery * 128;
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = maxBody;
        NodeStatusQuery? query;
        try
        {
            query = await JsonSerializer.DeserializeAsync<NodeStatusQuery>(request.Body, DroverJson.Options, cancellationToken);
        }
        catch (JsonException e)
        {
            return (ValidationProblem)Extensions.BadJson(e);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return NodeProblems.TooLarge(maxBody);
        }
        if (query?.RequestIds is not { } ids)
            return NodeProblems.Invalid("request_ids", "send {\"request_ids\": [\"...\"]}");
        if (ids.Count > NodeBatchLimits.MaxStatusQuery)
            return NodeProblems.Invalid("request_ids", $"at most {NodeBatchLimits.MaxStatusQuery.ToString(CultureInfo.InvariantCulture)} ids per call; this one has {ids.Count.ToString(CultureInfo.InvariantCulture)}");
        var jobs = new List<NodeJobStatus>(ids.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var id in ids)
            if (id is not null && seen.Add(id) && store.TryGetRecorded(id, out var job))
                jobs.Add(job.Status);
        return TypedResults.Ok(new NodeJobList { Jobs = jobs });
    }

    private static Results<Ok<NodeJobStatus>, ProblemHttpResult> GetStatus([FromRoute(Name = "request_id")] string requestId, JobStore store) =>
        store.TryGetRecorded(requestId, out var job) ? TypedResults.Ok(job.Status) : NodeProblems.UnknownJob(requestId);

    /// <summary>A running job records a progress message: <c>{"message": "..."}</c> or a text/plain body.</summary>
    private static async Task<Results<Ok<NodeJobStatus>, ValidationProblem, ProblemHttpResult>> PostMessageAsync(
        [FromRoute(Name = "request_id")] string requestId, HttpRequest request, JobStore store, CancellationToken cancellationToken)
    {
        if (!store.TryGetRecorded(requestId, out var job))
            return NodeProblems.UnknownJob(requestId);
        // A message is small: never read a body the size of an upload into memory for one.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = MaxMessageBodySize;
        try
        {
            return await RecordMessageAsync(job, request, cancellationToken);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return NodeProblems.TooLarge(MaxMessageBodySize);
        }
    }

    private static async Task<Results<Ok<NodeJobStatus>, ValidationProblem, ProblemHttpResult>> RecordMessageAsync(
        Job job, HttpRequest request, CancellationToken cancellationToken)
    {
        string? message;
        if (request.ContentType?.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase) == true)
        {
            using var reader = new StreamReader(request.Body);
            message = (await reader.ReadToEndAsync(cancellationToken)).TrimEnd('\r', '\n');
        }
        else
        {
            try
            {
                message = (await JsonSerializer.DeserializeAsync<ProgressMessage>(request.Body, DroverJson.Options, cancellationToken))?.Message;
            }
            catch (JsonException e)
            {
                return (ValidationProblem)Extensions.BadJson(e);
            }
        }
        if (message is null)
            return NodeProblems.Invalid("message", "send {\"message\": \"...\"} or a text/plain body");
        if (message.Length > MaxMessageLength)
            return NodeProblems.Invalid("message", $"a message is at most {MaxMessageLength.ToString(CultureInfo.InvariantCulture)} characters");

        lock (job.Gate)
            JobStore.SaveStatus(job, job.Status with { Message = message }, durable: false);
        return TypedResults.Ok(job.Status);
    }

    private static async Task<Results<Ok<NodeJobStatus>, ProblemHttpResult>> KillAsync(
        [FromRoute(Name = "request_id")] string requestId, JobStore store, JobRunner runner, CancellationToken cancellationToken)
    {
        if (!store.TryGetRecorded(requestId, out var job))
            return NodeProblems.UnknownJob(requestId);
        return TypedResults.Ok(await runner.KillAsync(job, StopReason.Killed, cancellationToken));
    }
}
