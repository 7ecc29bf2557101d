using System.Globalization;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Access;
using Drover.Scheduler.Dags;
using Drover.Scheduler.Events;
using Drover.Scheduler.Following;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Jobs;

/// <summary><c>/scheduler/jobs</c>: submit, list, read, update, kill, log.</summary>
internal static class JobsApi
{
    private static readonly TimeSpan FollowRecheck = TimeSpan.FromSeconds(2);

    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/scheduler/jobs").WithTags("Jobs");
        group.MapPost("/new", SubmitAsync)
            .Accepts<JobSpec>("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
            .Produces<SubmitAnswer>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .DisableAntiforgery()
            .WithSummary("Submit a job")
            .WithDescription("Stores the job and queues it: 202 with its job_id, request_id and href (the same answer again for a request_id already used). "
                + "Send JSON, form fields (command, shell, env, timeout, max_attempts, retry_on, label, node, priority, request_id, depends_on, parent, wait_for_children) "
                + "or multipart/form-data with files; 400 names the bad field, 413 the body is too large, 415 another content type.")
            .WithRequestExample("application/json", """{"commands": [{"command": ["curl", "https://www.google.com/"]}]}""")
            .WithRequestExample("application/x-www-form-urlencoded", """{"command": "curl \"https://www.google.com/\""}""");
        group.MapGet("/", ListAsync).Produces<JobPage>(contentType: "application/json").Produces<string>(contentType: "text/plain")
            .WithSummary("List jobs")
            .WithDescription("Jobs by id, filtered by ?state=, ?status=, ?node=, ?parent=, ?reason=, ?label=key=value, ?submitted_after= and ?submitted_before= "
                + "(ISO 8601 times), and ?q= (words that each appear in the job's commands or request id), paged by ?after= (a job id) and ?limit= (1-10000, default 1000) "
                + "with the next page's link in next; with Accept: text/plain only the ids, one a line. 400 names a bad filter.");
        group.MapJobSummary();
        group.MapBatchSubmit();
        group.MapGet("/{id:long}", GetAsync)
            .WithSummary("Get a job")
            .WithDescription("The job's whole record: its spec, state and status, attempts, children, dependencies and dependents; 404 when there is no such job.");
        group.MapGet("/{id:long}/status", GetStatusAsync)
            .WithSummary("Get a job's status")
            .WithDescription("The job's state, status, reason, node, times, exit code, attempts and last message, without its spec; 404 when there is no such job.");
        group.MapPost("/{id:long}/update", UpdateAsync)
            .WithSummary("Refresh a job's status from its node")
            .WithDescription("Asks the job's node now rather than at the next poll (when the job is placed or running), then answers 200 with its status; 404 when there is no such job.");
        group.MapPost("/{id:long}/kill", KillAsync)
            .WithSummary("Kill a job")
            .WithDescription("Stops the job wherever it is, queued or on a node: 200 once it has stopped, 202 when the stop is recorded and will reach the node later. "
                + "With ?descendants=true its children and dependents are killed first. 404 when there is no such job.");
        group.MapGet("/{id:long}/log", LogAsync).Produces<string>(contentType: "text/plain").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Read a job's log")
            .WithDescription("The output of the job's latest attempt, from its node, from byte ?offset= (default 0); empty before it has run. "
                + "With ?follow=true it waits for the job to start and streams its output until it stops. 400 for a bad offset, 404 no such job, 502 the node cannot be reached.");
        return group;
    }

    private static async Task<IResult> SubmitAsync(
        HttpContext context, IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time, ILoggerFactory loggers,
        SchedulerMetrics metrics, CancellationToken cancellationToken)
    {
        var (submission, problem) = await SubmissionReader.ReadAsync(context.Request, options.Value, cancellationToken);
        if (problem is not null)
            return problem;
        var spec = submission!.Spec;
        var (links, linkProblem) = await Links.CheckAsync(spec, context.CallerJob(), store, options.Value, cancellationToken);
        if (linkProblem is not null)
        {
            JobFiles.Delete(submission.FilesDir, loggers.CreateLogger(typeof(JobsApi)));
            return linkProblem;
        }
        var job = NewJobs.From(spec, links!, submission.FilesDir, options.Value, Wire.Millis(time.GetUtcNow()));
        InsertResult result;
        try
        {
            // The store's group commit puts concurrent submissions in one transaction; the 202 follows its commit.
            result = (await store.InsertJobsAsync([job], cancellationToken))[0];
        }
        catch
        {
            JobFiles.Delete(submission.FilesDir, loggers.CreateLogger(typeof(JobsApi)));
            throw;
        }
        metrics.Submitted(result.Created ? 1 : 0);
        if (!result.Created)
            JobFiles.Delete(submission.FilesDir, loggers.CreateLogger(typeof(JobsApi))); // the job made before keeps its own files
        var href = Href(result.JobId);
        return TypedResults.Accepted(href, new SubmitAnswer(result.RequestId, result.JobId, href));
    }

    private static async Task<IResult> ListAsync(
        HttpContext context, IJobStore store, string? state, string? status, string? node, long? parent, long? after, int? limit,
        [AsParameters] MoreJobFilters more, CancellationToken cancellationToken)
    {
        var problems = new Dictionary<string, string[]>();
        if (state is not null && !Wire.TryParse<JobState>(state, out _))
            problems["state"] = ["state is one of queued, placed, running, stopped"];
        if (status is not null && !Wire.TryParse<JobStatus>(status, out _))
            problems["status"] = ["status is one of unknown, good, error"];
        if (limit is < 1 or > 10_000)
            problems["limit"] = ["limit is between 1 and 10000"];
        var take = limit ?? 1000;
        var filter = more.Apply(new JobFilter(state, status, node, parent, after ?? 0, take), problems);
        if (problems.Count > 0)
            return TypedResults.ValidationProblem(problems);
        var jobs = await store.ListJobsAsync(filter, cancellationToken);
        if (WantsText(context.Request))
        {
            var text = new StringBuilder();
            foreach (var job in jobs)
                text.Append(job.Id.ToString(CultureInfo.InvariantCulture)).Append('\n');
            return TypedResults.Text(text.ToString(), "text/plain");
        }
        string? next = null;
        if (jobs.Count == take)
        {
            var query = context.Request.Query.Where(q => q.Key is not "after").Select(q => $"{q.Key}={Uri.EscapeDataString(q.Value.ToString())}")
                .Append(string.Create(CultureInfo.InvariantCulture, $"after={jobs[^1].Id}"));
            next = "/scheduler/jobs?" + string.Join('&', query);
        }
        return TypedResults.Ok(new JobPage { Jobs = jobs.Select(Wire.StatusView).ToList(), Next = next });
    }

    private static async Task<Results<Ok<JobRecord>, ProblemHttpResult>> GetAsync(long id, IJobStore store, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, cancellationToken);
        if (job is null)
            return UnknownJob(id);
        var attempts = await store.GetAttemptsAsync(id, cancellationToken);
        var links = await store.GetLinksAsync(id, cancellationToken);
        return TypedResults.Ok(Wire.Record(job, attempts, links.Children) with
        {
            Root = job.Root ?? job.Id,
            DependsOn = links.DependsOn.Select(d => Dependency.On(d.Job, Wire.Condition(d.Condition))).ToList(),
            Dependents = links.Dependents.Select(d => Dependency.On(d.Job, Wire.Condition(d.Condition))).ToList(),
            WaitingOn = (int)job.WaitingOn,
            AwaitingChildren = job.AwaitingChildren == 1,
        });
    }

    private static async Task<Results<Ok<JobStatusView>, ProblemHttpResult>> GetStatusAsync(long id, IJobStore store, CancellationToken cancellationToken)
    {
        var job = await store.GetJobAsync(id, cancellationToken);
        return job is null ? UnknownJob(id) : TypedResults.Ok(Wire.StatusView(job));
    }

    private static async Task<Results<Ok<JobStatusView>, ProblemHttpResult>> UpdateAsync(
        long id, IJobStore store, Follower follower, CancellationToken cancellationToken)
    {
        if (await store.GetJobAsync(id, cancellationToken) is not { } job)
            return UnknownJob(id);
        await follower.RefreshAsync(job, cancellationToken);
        return TypedResults.Ok(Wire.StatusView((await store.GetJobAsync(id, cancellationToken))!));
    }

    private static async Task<Results<Ok<JobStatusView>, Accepted<JobStatusView>, ProblemHttpResult>> KillAsync(
        long id, JobControl control, bool? descendants, CancellationToken cancellationToken)
    {
        if (await control.KillAsync(id, descendants == true, cancellationToken) is not { } kill)
            return UnknownJob(id);
        var view = Wire.StatusView(kill.Job);
        // 202: the stop is recorded and will be carried out once the node can be told.
        return kill.Stopped ? TypedResults.Ok(view) : TypedResults.Accepted(Href(id) + "/status", view);
    }

    private static async Task<IResult> LogAsync(
        long id, HttpContext context, IJobStore store, NodeRegistry nodes, INodeBackend backend, EventFeed feed, long? offset, bool? follow,
        CancellationToken cancellationToken)
    {
        if (offset is < 0)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["offset"] = ["offset is a byte position, 0 or more"] });
        var job = await store.GetJobAsync(id, cancellationToken);
        if (job is null)
            return UnknownJob(id);
        // Following a job not yet placed (or not yet recorded on its node) waits until there is a log to follow.
        while (true)
        {
            // Taken before reading the job: a change committed after the read completes it, so none is missed.
            var next = feed.Next;
            if (job.Attempts > 0 && job.Node is { } name && nodes.Find(name) is { } node
                && await store.GetAttemptAsync(job.Id, (int)job.Attempts, cancellationToken) is { } attempt)
            {
                Stream? log;
                try
                {
                    log = await backend.OpenLogAsync(node.Target, new NodeAttempt(attempt.BackendRef, attempt.NodeRef), offset ?? 0, follow == true, cancellationToken);
                }
                catch (NodeUnreachableException e)
                {
                    return TypedResults.Problem(statusCode: StatusCodes.Status502BadGateway, title: "The node cannot be reached", detail: e.Message);
                }
                if (log is not null)
                    return new LogStream(log);
            }
            if (follow != true || job.State == JobState.Stopped)
                return TypedResults.Text("", "text/plain");
            // Woken by the store's next event (the job placed, started or stopped), with a poll now and then for a
            // start the node had not recorded yet when its log was asked for.
            try
            {
                await next.WaitAsync(FollowRecheck, cancellationToken);
            }
            catch (TimeoutException)
            {
            }
            job = await store.GetJobAsync(id, cancellationToken) ?? job;
        }
    }

    private static bool WantsText(HttpRequest request) =>
        request.GetTypedHeaders().Accept is { Count: > 0 } accept
        && accept.Any(a => a.MediaType.Equals("text/plain", StringComparison.OrdinalIgnoreCase))
        && !accept.Any(a => a.MediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase));

    public static string Href(long id) => string.Create(CultureInfo.InvariantCulture, $"/scheduler/jobs/{id}");

    public static ProblemHttpResult UnknownJob(long id) =>
        TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such job",
            detail: string.Create(CultureInfo.InvariantCulture, $"There is no job {id}."),
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["id"] = ["unknown job id"] } });

    /// <summary>Copies the node's log to the caller as it comes, flushing each piece (no buffering of a followed log).</summary>
    private sealed class LogStream(Stream log) : IResult
    {
        public async Task ExecuteAsync(HttpContext httpContext)
        {
            await using var _ = log;
            httpContext.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            httpContext.Response.ContentType = "text/plain; charset=utf-8";
            var buffer = new byte[16 * 1024];
            try
            {
                int read;
                while ((read = await log.ReadAsync(buffer, httpContext.RequestAborted)) > 0)
                {
                    await httpContext.Response.Body.WriteAsync(buffer.AsMemory(0, read), httpContext.RequestAborted);
                    await httpContext.Response.Body.FlushAsync(httpContext.RequestAborted);
                }
            }
            catch (OperationCanceledException) when (httpContext.RequestAborted.IsCancellationRequested)
            {
                // the caller went away
            }
        }
    }
}
