using Drover.Contracts;

namespace Drover.Processor.Jobs;

/// <summary>
/// Reads the state directory back when the Processor starts, before it answers anything, and lets go of the jobs
/// when it stops (they keep running; the next Processor re-attaches them).
/// </summary>
internal sealed partial class JobRecovery(JobStore store, JobRunner runner, SlotGate slots, ILogger<JobRecovery> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var unfinished = store.Load((directory, error) => LogUnreadable(directory, error));
        int started = 0, attached = 0, ended = 0;
        foreach (var job in unfinished)
        {
            slots.Take();
            if (job.Status.State == JobState.Queued)
            {
                // Accepted but never started: a job is durably marked running before its first command starts, so
                // one still queued on disk never ran, and starting it now cannot run it twice.
                runner.Start(job);
                started++;
                continue;
            }
            var record = JobStore.ReadProcess(job);
            if (record is { StartTicks: > 0 } && ProcessGroups.StartTicks(record.Pid) == record.StartTicks)
            {
                runner.Resume(job, runner.Attach(job, record));
                attached++;
            }
            else
            {
                runner.StopAfterRestart(job, record);
                ended++;
            }
        }
        LogLoaded(store.All.Count, started, attached, ended, store.Root);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        runner.Detach();
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Loaded {Jobs} jobs from {Root}: {Started} queued jobs started, {Attached} running jobs re-attached, {Ended} whose process was gone stopped")]
    private partial void LogLoaded(int jobs, int started, int attached, int ended, string root);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job directory {Directory} cannot be read; it is left out")]
    private partial void LogUnreadable(string directory, Exception error);
}
