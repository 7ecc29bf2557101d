using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Access;
using Drover.Scheduler.Dags;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// <c>POST /scheduler/jobs/batch</c>: many independent jobs in one request (a job array, as in Slurm or AWS Batch), each
/// checked as <c>POST /scheduler/jobs/new</c> checks one, then stored all or none in one transaction.
/// </summary>
internal static class BatchSubmitApi
{
    private const string SweepExample = """
        {"jobs": [
          {"commands": [{"exec": ["echo", "1"]}], "request_id": "sweep-1"},
          {"commands": [{"exec": ["echo", "2"]}], "request_id": "sweep-2"}
        ]}
        """;

    private const string NotJson = "Send the batch as application/json: {\"jobs\": [<job>, <job>, ...]}, each <job> as POST /scheduler/jobs/new takes it.";

    public static RouteGroupBuilder MapBatchSubmit(this RouteGroupBuilder group)
    {
        group.MapPost("/batch", SubmitAsync)
            .Accepts<BatchRequest>("application/json")
            .Produces<BatchAnswer>(StatusCodes.Status202Accepted)
            .ProducesValidationProblem()
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .DisableAntiforgery()
            .WithSummary("Submit a batch of independent jobs")
            .WithDescription("Jobs as POST /scheduler/jobs/new takes them, stored all or none in one transaction: 202 with each job's request_id, job_id and href "
                + "in the order sent. Each job has its own request_id (made up when absent); one already used answers with the job made before, so a batch "
                + "sent again creates nothing new. The jobs are independent (not one DAG); depends_on may name existing job ids. "
                + "400 names the job and field (jobs[3].commands), and is also the answer to an empty list, a request_id used twice in the batch, "
                + "or a job naming files (submit a job with files alone, as multipart/form-data). 413 more jobs than Scheduler:MaxDagJobs, "
                + "more dependencies than Scheduler:MaxDagEdges, or a body over Scheduler:MaxRequestBodySize. 415 not JSON.")
            .WithRequestExample("application/json", SweepExample);
        // curl -d '{"jobs": ...}' without a content type sends the batch as a form: this says which header is missing.
        group.MapPost("/batch", FormAsync).Accepts<string>("application/x-www-form-urlencoded").DisableAntiforgery().ExcludeFromDescription();
        return group;
    }

    private static async Task<IResult> FormAsync(HttpContext context, CancellationToken cancellationToken) =>
        await SubmissionReader.JsonSentAsFormAsync(context.Request, cancellationToken) ?? NotJsonProblem();

    private static ProblemHttpResult NotJsonProblem() =>
        TypedResults.Problem(statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported content type", detail: NotJson,
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["Content-Type"] = ["a batch is sent as application/json"] } });

    private static async Task<IResult> SubmitAsync(
        HttpContext context, IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time, SchedulerMetrics metrics,
        CancellationToken cancellationToken)
    {
        if (!context.Request.HasJsonContentType())
            return NotJsonProblem();
        var (read, problem) = await SubmissionReader.ReadJsonAsync(context.Request, options.Value, Read, cancellationToken);
        if (problem is not null)
            return problem;
        var specs = read!;

        // Parent and depends_on as for one job (a job token's caller becomes each job's parent); every item is checked
        // before anything is stored, and the 400 lists the problems of all of them.
        var problems = new Dictionary<string, string[]>();
        var links = new JobLinksIn[specs.Count];
        for (var i = 0; i < specs.Count; i++)
        {
            var (checkedLinks, linkProblem) = await Links.CheckAsync(specs[i], context.CallerJob(), store, options.Value, cancellationToken);
            if (linkProblem is null)
                links[i] = checkedLinks!;
            else if (ForItem(linkProblem, i, problems) is { } refused)
                return refused;
        }
        if (problems.Count > 0)
            return Invalid(problems);

        var now = Wire.Millis(time.GetUtcNow());
        var jobs = specs.Select((spec, i) => NewJobs.From(spec, links[i], null, options.Value, now)).ToList();
        // One transaction and one fsync for the whole batch; the store wakes placement once it has committed new jobs.
        var results = await store.InsertJobsAsync(jobs, cancellationToken);
        metrics.Submitted(results.Count(r => r.Created));
        return TypedResults.Accepted((string?)null,
            new BatchAnswer { Jobs = results.Select(r => new SubmitAnswer(r.RequestId, r.JobId, JobsApi.Href(r.JobId))).ToList() });
    }

    /// <summary>The body's jobs, each deserialized and checked on its own fields, or the problem with all of them.</summary>
    private static (List<JobSpec>? Specs, IResult? Problem) Read(JsonElement body, SchedulerOptions options)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("jobs", out var items) || items.ValueKind != JsonValueKind.Array)
            return (null, Invalid(new() { ["jobs"] = ["send {\"jobs\": [<job>, <job>, ...]}, each <job> as POST /scheduler/jobs/new takes it"] }));
        var problems = new Dictionary<string, string[]>();
        // A batch-wide request_id would suggest one the batch does not have: each job's own is what makes it idempotent.
        foreach (var property in body.EnumerateObject())
            if (property.Name != "jobs")
                problems[property.Name] = ["a batch has only jobs; each job carries its own request_id"];

        // Counted before anything is deserialized: a request over the limits costs little to refuse.
        var count = items.GetArrayLength();
        if (count > options.MaxDagJobs)
            return (null, Links.TooLarge("Too many jobs", "jobs",
                string.Create(CultureInfo.InvariantCulture, $"{count} jobs is more than the limit of {options.MaxDagJobs} (Scheduler:MaxDagJobs)."),
                $"more than {options.MaxDagJobs}"));
        long edges = 0;
        foreach (var item in items.EnumerateArray())
            if (item.ValueKind == JsonValueKind.Object && item.TryGetProperty("depends_on", out var d) && d.ValueKind == JsonValueKind.Array)
                edges += d.GetArrayLength();
        if (edges > options.MaxDagEdges)
            return (null, Links.TooMany("jobs", edges, options.MaxDagEdges));
        if (count == 0)
            return (null, Invalid(new() { ["jobs"] = ["a batch has at least one job"] }));

        var specs = new List<JobSpec>(count);
        var firstWithRequestId = new Dictionary<string, int>(StringComparer.Ordinal);
        var index = 0;
        foreach (var item in items.EnumerateArray())
        {
            var i = index++;
            JobSpec? spec;
            try
            {
                spec = item.Deserialize<JobSpec>(DroverJson.Options);
            }
            catch (JsonException e)
            {
                ForItem(ServiceDefaults.Extensions.BadJson(e), i, problems);
                continue;
            }
            if (spec is null)
            {
                problems[Field(i, null)] = ["a job is an object"];
                continue;
            }
            var own = new Dictionary<string, string[]>();
            SubmissionReader.Check(spec, own);
            foreach (var (key, value) in own)
                problems[Field(i, key)] = value;
            if (spec.Files.Count > 0)
                problems[Field(i, "files")] = ["a batch cannot carry uploaded files: submit a job with files alone, as multipart/form-data to POST /scheduler/jobs/new"];
            if (spec.RequestId is { } requestId && !firstWithRequestId.TryAdd(requestId, i))
            {
                var first = firstWithRequestId[requestId];
                problems[Field(i, "request_id")] = [$"request_id '{requestId}' is also that of {Field(first, null)}"];
                problems[Field(first, "request_id")] = [$"request_id '{requestId}' is also that of {Field(i, null)}"];
            }
            specs.Add(spec);
        }
        return problems.Count > 0 ? (null, Invalid(problems)) : (specs, null);
    }

    /// <summary>
    /// Files a problem about one item under its own keys (<c>depends_on[0]</c> becomes <c>jobs[3].depends_on[0]</c>): a 400
    /// joins the others; any other refusal (403 outside the caller's DAG) is returned at once, naming the item.
    /// </summary>
    private static ProblemHttpResult? ForItem(IResult problem, int index, Dictionary<string, string[]> problems)
    {
        switch (problem)
        {
            case ValidationProblem invalid:
                foreach (var (key, value) in invalid.ProblemDetails.Errors)
                    problems[Field(index, key is "body" ? null : key)] = value;
                return null;
            case ProblemHttpResult refused:
                var details = refused.ProblemDetails;
                var errors = details.Extensions.TryGetValue("errors", out var e) && e is IDictionary<string, string[]> named
                    ? named.ToDictionary(n => Field(index, n.Key), n => n.Value)
                    : new Dictionary<string, string[]> { [Field(index, null)] = [details.Title ?? "refused"] };
                return TypedResults.Problem(statusCode: details.Status, title: details.Title, detail: $"{Field(index, null)}: {details.Detail}",
                    extensions: new Dictionary<string, object?> { ["errors"] = errors });
            default:
                throw new InvalidOperationException($"unexpected refusal {problem.GetType().Name} from a job's checks");
        }
    }

    private static string Field(int index, string? key) =>
        string.Create(CultureInfo.InvariantCulture, $"jobs[{index}]") + (key is null ? "" : "." + key);

    private static ValidationProblem Invalid(Dictionary<string, string[]> problems) =>
        TypedResults.ValidationProblem(problems, title: "The batch is not valid");
}
