using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Access;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Dags;

/// <summary>
/// DAGs: a whole DAG in one request (<c>POST /scheduler/dags/new</c>), walking the DAG of any job
/// (<c>GET /scheduler/jobs/{id}/dag</c>), and re-running a failed job with what waited on it (<c>POST /scheduler/jobs/{id}/retry</c>).
/// </summary>
internal static class DagsApi
{
    /// <summary>A small diamond for the OpenAPI document: two jobs after the first, and a last one after both.</summary>
    private const string DiamondExample = """
        {"jobs": {
          "fetch": {"commands": [{"exec": ["echo", "fetch"]}]},
          "left": {"commands": [{"exec": ["echo", "left"]}], "depends_on": ["fetch"]},
          "right": {"commands": [{"exec": ["echo", "right"]}], "depends_on": ["fetch"]},
          "join": {"commands": [{"exec": ["echo", "join"]}], "depends_on": ["left", "right"]}
        }}
        """;

    public static IEndpointRouteBuilder MapDagsApi(this IEndpointRouteBuilder routes)
    {
        routes.MapGroup("/scheduler/dags").WithTags("DAGs")
            .MapPost("/new", SubmitAsync)
            .Accepts<DagRequest>("application/json")
            .Produces<DagAnswer>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .DisableAntiforgery()
            .WithSummary("Submit a DAG")
            .WithDescription("Named jobs whose depends_on name each other or existing job ids (as afterok, afternotok or afterany), stored all or none: "
                + "202 with each job's id and the DAG's href. 400 names the bad field (an unknown name, a cycle), 413 over the size or job and edge limits, 415 not JSON.")
            .WithRequestExample("application/json", DiamondExample);
        // curl -d '{"jobs": ...}' without a content type sends the DAG as a form: this says which header is missing.
        routes.MapPost("/scheduler/dags/new", FormAsync).Accepts<string>("application/x-www-form-urlencoded").DisableAntiforgery().ExcludeFromDescription();
        var jobs = routes.MapGroup("/scheduler/jobs").WithTags("DAGs");
        jobs.MapGet("/{id:long}/dag", GetAsync)
            .WithSummary("Walk a job's DAG")
            .WithDescription("Every job connected to the job's root ancestor by child and dependency edges, the edges, and the DAG's overall state and status; 404 when there is no such job.");
        jobs.MapPost("/{id:long}/retry", RetryAsync)
            .WithSummary("Retry a failed job")
            .WithDescription("Queues the failed job again with the dependents that stopped only because of it; 200 lists them, 409 when the job cannot be retried, 404 when there is no such job.");
        return routes;
    }

    private static async Task<Results<Ok<DagView>, ProblemHttpResult>> GetAsync(long id, IJobStore store, CancellationToken cancellationToken)
    {
        var dag = await store.GetDagAsync(id, cancellationToken);
        if (dag is null)
            return JobsApi.UnknownJob(id);
        var running = dag.Jobs.Any(j => j.State != JobState.Stopped);
        var good = dag.Jobs.All(j => j.Status == JobStatus.Good || j.Reason == "skipped");
        return TypedResults.Ok(new DagView
        {
            Root = dag.Root,
            State = running ? JobState.Running : JobState.Stopped,
            Status = running ? JobStatus.Unknown : good ? JobStatus.Good : JobStatus.Error,
            Jobs = dag.Jobs.Select(Wire.StatusView).ToList(),
            Edges = dag.Edges.Select(e => new DagEdge(e.From, e.To, e.Kind)).ToList(),
        });
    }

    private static async Task<Results<Ok<RetryAnswer>, ProblemHttpResult>> RetryAsync(
        long id, JobControl control, CancellationToken cancellationToken)
    {
        var result = await control.RetryAsync(id, cancellationToken);
        return result.Outcome switch
        {
            RetryOutcome.Requeued => TypedResults.Ok(new RetryAnswer(id, result.Requeued)),
            RetryOutcome.Unknown => JobsApi.UnknownJob(id),
            _ => TypedResults.Problem(statusCode: StatusCodes.Status409Conflict, title: "The job cannot be retried", detail: result.Detail,
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["id"] = [result.Detail ?? ""] } }),
        };
    }

    private static async Task<IResult> FormAsync(HttpContext context, CancellationToken cancellationToken) =>
        await SubmissionReader.JsonSentAsFormAsync(context.Request, cancellationToken)
        ?? TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type",
            detail: "Send the DAG as application/json: {\"jobs\": {\"name\": {<job>, \"depends_on\": [\"other-name\"]}}}.",
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["Content-Type"] = ["a DAG is sent as application/json"] } });

    private static async Task<IResult> SubmitAsync(
        HttpContext context, IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time,
        SchedulerMetrics metrics,
        CancellationToken cancellationToken)
    {
        if (!context.Request.HasJsonContentType())
            return TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type",
                detail: "Send the DAG as application/json: {\"jobs\": {\"name\": {<job>, \"depends_on\": [\"other-name\"]}}}.");
        var (read, problem) = await SubmissionReader.ReadJsonAsync(context.Request, options.Value, DagPlan.Read, cancellationToken);
        if (problem is not null)
            return problem;
        var plan = read!;

        // Dependencies on jobs outside the request (by id) must exist; parents are checked as for one job.
        var problems = new Dictionary<string, string[]>();
        var outside = plan.Jobs.SelectMany(j => j.Outside).Select(o => o.Id).Distinct().ToList();
        var known = (await store.FindJobsAsync(outside, cancellationToken)).ToHashSet();
        foreach (var job in plan.Jobs)
            foreach (var (field, upstream) in job.Outside)
                if (!known.Contains(upstream))
                    problems[field] = [string.Create(CultureInfo.InvariantCulture, $"there is no job {upstream} and no job of this request is named so")];
        if (problems.Count > 0)
            return TypedResults.ValidationProblem(problems, title: "The DAG is not valid");
        if (await Links.OutsideCallersDagAsync(outside, context.CallerJob(), store, cancellationToken) is { } foreign)
            return Links.Forbidden(context.CallerJob()!, plan.Jobs.SelectMany(j => j.Outside).First(o => o.Id == foreign).Field, foreign);
        var parents = new Dictionary<long, long?>();
        var now = Wire.Millis(time.GetUtcNow());
        var jobs = new List<NewJob>(plan.Jobs.Count);
        var traceParent = Telemetry.CurrentTraceParent();
        foreach (var job in plan.Jobs)
        {
            long? parent;
            if (job.Spec.Parent is { } named && parents.TryGetValue(named, out var checkedParent))
            {
                parent = checkedParent;
            }
            else
            {
                var (found, parentProblem) = await Links.ParentAsync(job.Spec.Parent, context.CallerJob(), store, cancellationToken);
                if (parentProblem is not null)
                    return parentProblem;
                parent = found;
                if (job.Spec.Parent is { } n)
                    parents[n] = found;
            }
            var requestId = plan.RequestId is { } dagId ? $"{dagId}.{job.Name}" : Guid.CreateVersion7().ToString("N");
            var spec = job.Spec with
            {
                RequestId = requestId,
                MaxAttempts = job.Spec.MaxAttempts ?? options.Value.DefaultMaxAttempts,
                Parent = parent,
                DependsOn = job.Edges.Select(e => e.JobId is { } id
                    ? Dependency.On(id, e.Condition)
                    : new Dependency(plan.Jobs[e.Earlier!.Value].Name, e.Condition)).ToList(),
            };
            jobs.Add(new NewJob(requestId, JsonSerializer.Serialize(spec, DroverJson.Options), spec.Priority, spec.MaxAttempts!.Value,
                parent, spec.TimeoutSeconds is { } t ? (long)(t * 1000) : null, null, now)
            {
                DependsOn = job.Edges,
                WaitForChildren = spec.WaitForChildren,
                RootOf = parent is null && jobs.Count > 0 ? 0 : null,
                TraceParent = traceParent,
            });
        }
        // One transaction: the whole DAG or nothing.
        // The store's commit wakes placement (CommitReactions): the roots are placed at once, not at the next periodic pass.
        var results = await store.InsertJobsAsync(jobs, cancellationToken);
        metrics.Submitted(results.Count(r => r.Created));
        var ids = new Dictionary<string, long>(StringComparer.Ordinal);
        for (var i = 0; i < results.Count; i++)
            ids[plan.Jobs[i].Name] = results[i].JobId;
        var root = await store.RootOfAsync(results[0].JobId, cancellationToken) ?? results[0].JobId;
        var href = JobsApi.Href(root) + "/dag";
        return TypedResults.Accepted(href, new DagAnswer { Jobs = ids, Root = root, Href = href });
    }
}
