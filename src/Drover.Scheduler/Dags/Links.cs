using System.Globalization;
using Drover.Contracts;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.Scheduler.Dags;

/// <summary>A job's place in a DAG as checked at submission: its parent and the existing jobs it waits for.</summary>
internal sealed record JobLinksIn(long? Parent, IReadOnlyList<NewDependency> DependsOn);

/// <summary>
/// Checks the <c>parent</c> and <c>depends_on</c> of a job submitted alone. Its dependencies exist already, so it
/// cannot close a cycle; an unknown id is refused. A job token makes the calling job the parent, and may name another
/// parent only inside its own DAG.
/// </summary>
internal static class Links
{
    public static async Task<(JobLinksIn? Links, IResult? Problem)> CheckAsync(
        JobSpec spec, JobTokenClaims? callerJob, IJobStore store, SchedulerOptions options, CancellationToken cancellationToken)
    {
        var problems = new Dictionary<string, string[]>();
        var dependsOn = spec.DependsOn ?? [];
        if (dependsOn.Count > options.MaxDagEdges)
            return (null, TooMany("depends_on", dependsOn.Count, options.MaxDagEdges));
        var ids = new List<long>(dependsOn.Count);
        for (var i = 0; i < dependsOn.Count; i++)
        {
            if (dependsOn[i].JobId is not { } id)
                problems[$"depends_on[{i}]"] = [$"'{dependsOn[i].Job}' is not a job id (names are for POST /scheduler/dags/new)"];
            else if (ids.Contains(id))
                problems[$"depends_on[{i}]"] = [string.Create(CultureInfo.InvariantCulture, $"job {id} is named twice")];
            else
                ids.Add(id);
        }
        if (problems.Count == 0 && ids.Count > 0)
        {
            var known = (await store.FindJobsAsync(ids, cancellationToken)).ToHashSet();
            for (var i = 0; i < ids.Count; i++)
                if (!known.Contains(ids[i]))
                    problems[$"depends_on[{i}]"] = [string.Create(CultureInfo.InvariantCulture, $"there is no job {ids[i]}")];
        }
        if (problems.Count == 0 && await OutsideCallersDagAsync(ids, callerJob, store, cancellationToken) is { } outside)
            return (null, Forbidden(callerJob!, $"depends_on[{ids.IndexOf(outside)}]", outside));
        var (parent, parentProblem) = await ParentAsync(spec.Parent, callerJob, store, cancellationToken);
        if (parentProblem is not null)
            return (null, parentProblem);
        if (problems.Count > 0)
            return (null, TypedResults.ValidationProblem(problems, title: "The job is not valid"));
        return (new JobLinksIn(parent, dependsOn.Select(d => new NewDependency(d.JobId, null, d.Condition)).ToList()), null);
    }

    /// <summary>
    /// A job token may make its jobs wait only on jobs of its own DAG: the first of <paramref name="upstream"/> outside
    /// it, or null. (A user key may name any job it can read; see the README's "Job tokens and nodes".)
    /// </summary>
    public static async Task<long?> OutsideCallersDagAsync(IReadOnlyList<long> upstream, JobTokenClaims? callerJob, IJobStore store, CancellationToken cancellationToken)
    {
        if (callerJob is null)
            return null;
        foreach (var id in upstream)
            if (await store.RootOfAsync(id, cancellationToken) is { } root && root != callerJob.Root)
                return id;
        return null;
    }

    public static ProblemHttpResult Forbidden(JobTokenClaims caller, string field, long upstream) =>
        TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
            detail: string.Create(CultureInfo.InvariantCulture, $"Job {caller.JobId} may only depend on jobs of its own DAG (root {caller.Root}); job {upstream} is not."),
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = ["outside the calling job's DAG"] } });

    /// <summary>The parent a job gets: the one named (if the caller may name it), else the calling job.</summary>
    public static async Task<(long? Parent, IResult? Problem)> ParentAsync(long? named, JobTokenClaims? callerToken, IJobStore store, CancellationToken cancellationToken)
    {
        var callerJob = callerToken?.JobId;
        if (named is not { } parent)
            return (callerJob, null);
        var root = await store.RootOfAsync(parent, cancellationToken);
        if (root is null)
            return (null, TypedResults.ValidationProblem(
                new Dictionary<string, string[]> { ["parent"] = [string.Create(CultureInfo.InvariantCulture, $"there is no job {parent}")] },
                title: "The job is not valid"));
        if (callerJob is { } caller && parent != caller && await store.RootOfAsync(caller, cancellationToken) != root)
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                detail: string.Create(CultureInfo.InvariantCulture, $"Job {caller} may only name a parent inside its own DAG; job {parent} is not."),
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["parent"] = ["outside the calling job's DAG"] } }));
        return (parent, null);
    }

    public static ProblemHttpResult TooMany(string field, long count, int limit) =>
        TooLarge("Too many dependencies", field,
            string.Create(CultureInfo.InvariantCulture, $"{count} is more than the limit of {limit} (Scheduler:MaxDagEdges)."), $"more than {limit}");

    /// <summary>A 413 over one of the DAG limits, naming the field in <c>errors</c> as a 400 would.</summary>
    public static ProblemHttpResult TooLarge(string title, string field, string detail, string error) =>
        TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: title, detail: detail,
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [error] } });
}
