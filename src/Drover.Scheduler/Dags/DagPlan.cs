using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Dags;

/// <summary>One job of a DAG request, checked: its edges point at jobs earlier in <see cref="DagPlan.Jobs"/> or at existing ids.</summary>
internal sealed record PlannedJob(string Name, JobSpec Spec, IReadOnlyList<NewDependency> Edges, IReadOnlyList<(string Field, long Id)> Outside);

/// <summary>
/// A DAG request read and checked before anything is stored: names, each job's fields, limits, unknown names and
/// cycles. Its jobs come in an order where every job follows those it depends on (Kahn's algorithm), which is the
/// order they are inserted in.
/// </summary>
internal sealed record DagPlan(IReadOnlyList<PlannedJob> Jobs, string? RequestId)
{
    public static (DagPlan? Plan, IResult? Problem) Read(JsonElement body, SchedulerOptions options)
    {
        if (body.ValueKind != JsonValueKind.Object || !body.TryGetProperty("jobs", out var jobsElement) || jobsElement.ValueKind != JsonValueKind.Object)
            return (null, Invalid("jobs", "send {\"jobs\": {\"name\": {\"commands\": [...], \"depends_on\": [\"other-name\"]}}}"));
        string? requestId = null;
        if (body.TryGetProperty("request_id", out var rid))
        {
            requestId = rid.ValueKind == JsonValueKind.String ? rid.GetString() : null;
            if (!JobRules.IsSafeName(requestId) || requestId!.Length > JobRules.MaxNameLength / 2)
                return (null, Invalid("request_id", $"request_id must be 1-{JobRules.MaxNameLength / 2} characters of letters, digits, '.', '_' or '-'"));
        }

        // Counted before anything is deserialized: a request over the limits costs little to refuse.
        var names = new List<string>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var problems = new Dictionary<string, string[]>();
        long edges = 0;
        foreach (var property in jobsElement.EnumerateObject())
        {
            if (!seen.Add(property.Name))
                problems[$"jobs.{property.Name}"] = ["this name is used twice"];
            names.Add(property.Name);
            if (property.Value.ValueKind == JsonValueKind.Object && property.Value.TryGetProperty("depends_on", out var d) && d.ValueKind == JsonValueKind.Array)
                edges += d.GetArrayLength();
        }
        if (names.Count > options.MaxDagJobs)
            return (null, TooLarge("jobs", $"{names.Count} jobs is more than the limit of {options.MaxDagJobs} (Scheduler:MaxDagJobs)"));
        if (edges > options.MaxDagEdges)
            return (null, TooLarge("jobs", $"{edges} dependencies is more than the limit of {options.MaxDagEdges} (Scheduler:MaxDagEdges)"));
        if (names.Count == 0)
            return (null, Invalid("jobs", "a DAG has at least one job"));
        if (problems.Count > 0)
            return (null, TypedResults.ValidationProblem(problems, title: "The DAG is not valid"));

        var specs = new Dictionary<string, JobSpec>(StringComparer.Ordinal);
        foreach (var property in jobsElement.EnumerateObject())
        {
            var field = $"jobs.{property.Name}";
            if (!JobRules.IsSafeName(property.Name))
                problems[field] = ["a job's name is 1-128 letters, digits, '.', '_' or '-', not starting with '.'"];
            JobSpec? spec;
            try
            {
                spec = property.Value.Deserialize<JobSpec>(DroverJson.Options);
            }
            catch (JsonException e)
            {
                problems[field + (e.Path is { Length: > 1 } path ? path[1..] : "")] = [e.Message];
                continue;
            }
            if (spec is null)
            {
                problems[field] = ["a job is an object"];
                continue;
            }
            var own = new Dictionary<string, string[]>();
            SubmissionReader.Check(spec, own);
            foreach (var (key, value) in own)
                problems[$"{field}.{key}"] = value;
            if (spec.Files.Count > 0)
                problems[$"{field}.files"] = ["jobs of a DAG request cannot carry uploaded files"];
            if (spec.RequestId is not null)
                problems[$"{field}.request_id"] = ["give the DAG one request_id; its jobs get <request_id>.<name>"];
            specs[property.Name] = spec;
        }
        if (problems.Count > 0)
            return (null, TypedResults.ValidationProblem(problems, title: "The DAG is not valid"));

        // Edges by name; a number that names no job of the request is an existing job's id.
        var upstream = new Dictionary<string, List<(string Name, DependencyCondition Condition)>>(StringComparer.Ordinal);
        var outside = new Dictionary<string, List<(string Field, long Id, DependencyCondition Condition)>>(StringComparer.Ordinal);
        foreach (var name in names)
        {
            upstream[name] = [];
            outside[name] = [];
            var dependsOn = specs[name].DependsOn ?? [];
            var mentioned = new HashSet<string>(StringComparer.Ordinal);
            for (var i = 0; i < dependsOn.Count; i++)
            {
                var field = string.Create(CultureInfo.InvariantCulture, $"jobs.{name}.depends_on[{i}]");
                var dependency = dependsOn[i];
                if (!mentioned.Add(dependency.Job))
                    problems[field] = [$"'{dependency.Job}' is named twice"];
                else if (specs.ContainsKey(dependency.Job))
                    upstream[name].Add((dependency.Job, dependency.Condition));
                else if (dependency.JobId is { } id)
                    outside[name].Add((field, id, dependency.Condition));
                else
                    problems[field] = [$"no job of this request is named '{dependency.Job}'"];
            }
        }
        if (problems.Count > 0)
            return (null, TypedResults.ValidationProblem(problems, title: "The DAG is not valid"));

        // Kahn's algorithm: whatever is left once no job is free of unplaced dependencies lies on a cycle (or behind one).
        var remaining = names.ToDictionary(n => n, n => upstream[n].Count, StringComparer.Ordinal);
        var downstream = names.ToDictionary(n => n, _ => new List<string>(), StringComparer.Ordinal);
        foreach (var name in names)
            foreach (var (up, _) in upstream[name])
                downstream[up].Add(name);
        var ready = new Queue<string>(names.Where(n => remaining[n] == 0));
        var order = new List<string>(names.Count);
        while (ready.TryDequeue(out var next))
        {
            order.Add(next);
            foreach (var down in downstream[next])
                if (--remaining[down] == 0)
                    ready.Enqueue(down);
        }
        if (order.Count < names.Count)
        {
            var stuck = names.Where(n => remaining[n] > 0).Take(20).ToList();
            return (null, Invalid("jobs", $"the dependencies form a cycle through {string.Join(", ", stuck)}"));
        }

        var index = order.Select((n, i) => (n, i)).ToDictionary(p => p.n, p => p.i, StringComparer.Ordinal);
        var jobs = order.Select(name => new PlannedJob(
            name,
            specs[name],
            [
                .. upstream[name].Select(u => new NewDependency(null, index[u.Name], u.Condition)),
                .. outside[name].Select(o => new NewDependency(o.Id, null, o.Condition)),
            ],
            outside[name].Select(o => (o.Field, o.Id)).ToList())).ToList();
        return (new DagPlan(jobs, requestId), null);
    }

    private static Microsoft.AspNetCore.Http.HttpResults.ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The DAG is not valid");

    private static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult TooLarge(string field, string message) =>
        Links.TooLarge("The DAG is too large", field, message, message);
}
