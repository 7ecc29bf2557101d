using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Dags;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;

namespace Drover.Scheduler.Jobs;

/// <summary>What a checked job spec is stored as: shared by the single submit and the batch, so the two cannot drift.</summary>
internal static class NewJobs
{
    /// <summary>
    /// The row for a spec that passed <see cref="SubmissionReader.Check"/> and <see cref="Links.CheckAsync"/>: the request id
    /// made up when absent, max_attempts defaulted and the settled parent written into the stored spec, so that reading
    /// the job back shows what it runs with.
    /// </summary>
    public static NewJob From(JobSpec spec, JobLinksIn links, string? filesDir, SchedulerOptions options, long createdAt)
    {
        var requestId = spec.RequestId ?? Guid.CreateVersion7().ToString("N");
        spec = spec with { RequestId = requestId, MaxAttempts = spec.MaxAttempts ?? options.DefaultMaxAttempts, Parent = links.Parent };
        return new NewJob(
            requestId, JsonSerializer.Serialize(spec, DroverJson.Options), spec.Priority, spec.MaxAttempts!.Value,
            links.Parent, spec.TimeoutSeconds is { } t ? (long)(t * 1000) : null, filesDir, createdAt)
        {
            DependsOn = links.DependsOn,
            WaitForChildren = spec.WaitForChildren,
            TraceParent = Telemetry.CurrentTraceParent(),
        };
    }
}
