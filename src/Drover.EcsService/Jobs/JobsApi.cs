using System.Globalization;
using System.Text;
using System.Text.Json;
using Drover.Aws.Http;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Options;

namespace Drover.EcsService.Jobs;

/// <summary>The node protocol's job calls (docs/node-protocol.md), answered from ECS.</summary>
internal static class JobsApi
{
    private const int MaxMessageLength = 4096;
    private const int MaxMessageBodySize = 64 * 1024;

    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        // Both of the seed's spellings; only the plural one is described in the OpenAPI document.
        app.MapJobRoutes("/processor/job").ExcludeFromDescription();
        return app.MapJobRoutes("/processor/jobs").WithTags("Jobs");
    }

    private static RouteGroupBuilder MapJobRoutes(this IEndpointRouteBuilder app, string prefix)
    {
        var group = app.MapGroup(prefix);
        group.MapPost("/new", SubmitAsync)
            .WithSummary("Submit a job")
            .WithDescription("Starts the job as an ECS task (RunTask, the request_id as its client token): 201 with its status, or 200 with the job "
                + "already started under the same request_id. JSON only: this node takes no uploaded files (415). 429 when every slot is busy, "
                + "503 when ECS placed no task.");
        group.MapGet("/status", ListStatusAsync)
            .WithSummary("List the jobs' statuses")
            .WithDescription("Every job of this node, or with ?request_id=a&request_id=b (or a,b) only those: one DescribeTasks per hundred jobs.");
        group.MapGet("/{request_id}/status", GetStatusAsync).WithSummary("Get a job's status");
        group.MapPost("/{request_id}/status", PostMessageAsync)
            .WithSummary("Post a progress message")
            .WithDescription("Kept in this service's memory and shown in the job's status; a restart of the service forgets it.");
        group.MapGet("/{request_id}/log", GetLogAsync)
            .WithSummary("Read a job's log")
            .WithDescription("The task's CloudWatch Logs stream as text/plain, one line an event, from byte ?offset=; ?follow=true streams until the task stops.");
        group.MapPost("/{request_id}/kill", KillAsync)
            .WithSummary("Kill a job")
            .WithDescription("StopTask, then 200 with the job's status once ECS reports the task stopped.");
        return group;
    }

    private static async Task<Results<Created<NodeJobStatus>, Ok<NodeJobStatus>, ValidationProblem, ProblemHttpResult>> SubmitAsync(
        HttpRequest request, EcsJobs jobs, IOptions<EcsNodeServiceOptions> options, CancellationToken cancellationToken)
    {
        var limit = options.Value.MaxRequestBodySize;
        if (request.ContentLength > limit)
            return NodeProblems.TooLarge(limit);
        if (request.ContentType is { } contentType && !IsJson(contentType))
        {
            return NodeProblems.UnsupportedMediaType(contentType.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase)
                ? "this node takes no uploaded files (no 'multipart' feature): an ECS task has nowhere to receive them; send the job as application/json"
                : $"'{contentType}' is not application/json");
        }
        NodeJobRequest? spec;
        try
        {
            spec = await JsonSerializer.DeserializeAsync<NodeJobRequest>(request.Body, DroverJson.Options, cancellationToken);
        }
        catch (JsonException e)
        {
            return (ValidationProblem)Extensions.BadJson(e);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return NodeProblems.TooLarge(limit);
        }
        if (spec is null)
            return NodeProblems.Invalid("body", "the body must be a JSON object");
        var problems = JobRules.Check(spec);
        if (problems.Count > 0)
            return NodeProblems.Invalid(problems);
        var id = spec.RequestId ?? Guid.CreateVersion7().ToString("N");

        StartAnswer answer;
        try
        {
            answer = await jobs.StartAsync(spec with { RequestId = id }, cancellationToken);
        }
        catch (AwsServiceException e) when (!e.IsTransient)
        {
            return EcsRefused($"{e.ErrorType}: {e.AwsMessage}");
        }
        switch (answer.Outcome)
        {
            case StartOutcome.Created:
                return TypedResults.Created($"{request.PathBase}/processor/jobs/{id}/status", answer.Status);
            case StartOutcome.Existing:
                return TypedResults.Ok(answer.Status);
            case StartOutcome.SlotsFull:
                request.HttpContext.Response.Headers.RetryAfter = "1";
                return NodeProblems.SlotsFull(jobs.Cluster.Options.Slots);
            default:
                return EcsRefused(answer.Failure ?? "RunTask placed no task");
        }
    }

    private static ProblemHttpResult EcsRefused(string why) =>
        NodeProblems.Problem(StatusCodes.Status503ServiceUnavailable, "ECS started no task", "commands", why);

    private static bool IsJson(string contentType) =>
        contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
        || (Microsoft.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var media)
            && media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    private static async Task<Ok<NodeJobList>> ListStatusAsync(HttpRequest request, EcsJobs jobs, CancellationToken cancellationToken)
    {
        var wanted = request.Query["request_id"];
        List<EcsJob> chosen;
        if (wanted.Count == 0)
        {
            chosen = [.. jobs.All];
        }
        else
        {
            chosen = [];
            foreach (var id in wanted.SelectMany(ids => (ids ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                         .Distinct(StringComparer.Ordinal))
            {
                if (await jobs.FindAsync(id, cancellationToken) is { } job)
                    chosen.Add(job);
            }
        }
        return TypedResults.Ok(new NodeJobList { Jobs = await jobs.StatusAsync(chosen, cancellationToken) });
    }

    private static async Task<Results<Ok<NodeJobStatus>, ProblemHttpResult>> GetStatusAsync(
        [FromRoute(Name = "request_id")] string requestId, EcsJobs jobs, CancellationToken cancellationToken) =>
        await jobs.FindAsync(requestId, cancellationToken) is { } job
            ? TypedResults.Ok(await jobs.StatusAsync(job, cancellationToken))
            : NodeProblems.UnknownJob(requestId);

    private static async Task<Results<Ok<NodeJobStatus>, ValidationProblem, ProblemHttpResult>> PostMessageAsync(
        [FromRoute(Name = "request_id")] string requestId, HttpRequest request, EcsJobs jobs, CancellationToken cancellationToken)
    {
        if (await jobs.FindAsync(requestId, cancellationToken) is not { } job)
            return NodeProblems.UnknownJob(requestId);
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = MaxMessageBodySize;
        string? message;
        try
        {
            if (request.ContentType?.StartsWith("text/plain", StringComparison.OrdinalIgnoreCase) == true)
            {
                using var reader = new StreamReader(request.Body);
                message = (await reader.ReadToEndAsync(cancellationToken)).TrimEnd('\r', '\n');
            }
            else
            {
                message = (await JsonSerializer.DeserializeAsync<ProgressMessage>(request.Body, DroverJson.Options, cancellationToken))?.Message;
            }
        }
        catch (JsonException e)
        {
            return (ValidationProblem)Extensions.BadJson(e);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return NodeProblems.TooLarge(MaxMessageBodySize);
        }
        if (message is null)
            return NodeProblems.Invalid("message", "send {\"message\": \"...\"} or a text/plain body");
        if (message.Length > MaxMessageLength)
            return NodeProblems.Invalid("message", $"a message is at most {MaxMessageLength.ToString(CultureInfo.InvariantCulture)} characters");
        job.Message = message;
        return TypedResults.Ok(await jobs.StatusAsync(job, cancellationToken));
    }

    /// <summary>The log stream, one CloudWatch event a line; <c>?offset=</c> counts bytes of that text.</summary>
    private static async Task<Results<EmptyHttpResult, ValidationProblem, ProblemHttpResult>> GetLogAsync(
        [FromRoute(Name = "request_id")] string requestId, HttpContext context, EcsJobs jobs, CancellationToken cancellationToken)
    {
        var query = context.Request.Query;
        long offset = 0;
        if (query.TryGetValue("offset", out var offsetText)
            && (!long.TryParse(offsetText, NumberStyles.None, CultureInfo.InvariantCulture, out offset)))
            return NodeProblems.Invalid("offset", "offset must be a whole number of bytes, 0 or more");
        var follow = false;
        if (query.TryGetValue("follow", out var followText) && !bool.TryParse(followText, out follow))
            return NodeProblems.Invalid("follow", "follow must be true or false");
        if (await jobs.FindAsync(requestId, cancellationToken) is not { } job)
            return NodeProblems.UnknownJob(requestId);

        var response = context.Response;
        response.ContentType = "text/plain; charset=utf-8";
        await response.StartAsync(cancellationToken);
        await foreach (var line in jobs.Cluster.ReadLogAsync(job.TaskArn, follow, cancellationToken))
        {
            var bytes = Encoding.UTF8.GetBytes(line.Message + "\n");
            if (offset >= bytes.Length)
            {
                offset -= bytes.Length;
                continue;
            }
            await response.Body.WriteAsync(bytes.AsMemory((int)offset), cancellationToken);
            offset = 0;
            if (follow)
                await response.Body.FlushAsync(cancellationToken);
        }
        return TypedResults.Empty;
    }

    private static async Task<Results<Ok<NodeJobStatus>, ProblemHttpResult>> KillAsync(
        [FromRoute(Name = "request_id")] string requestId, EcsJobs jobs, CancellationToken cancellationToken) =>
        await jobs.FindAsync(requestId, cancellationToken) is { } job
            ? TypedResults.Ok(await jobs.KillAsync(job, cancellationToken))
            : NodeProblems.UnknownJob(requestId);
}
