using Drover.Contracts;

namespace Drover.Processor.Jobs;

/// <summary>
/// Reads the state directory back when the Processor starts, before it answers anything, and lets go of the jobs
/// when it stops (they keep running; the next Processor re-attaches them).
/// </summary>
internal sealed partial class JobRecovery(JobStore store, JobRunner runner, SupervisorClient supervisor, SlotGate slots, ILogger<JobRecovery> logger)
    : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var unfinished = store.Load((directory, error) => LogUnreadable(directory, error));
        // Asked once, before any command starts: the supervisor's list is what an earlier Processor left running. The
        // supervisor is started here if none runs, so that the first jobs do not wait for it while the slots fill up,
        // and so that its files (socket, lock, log) are in place before the Processor answers anyone.
        var supervised = await supervisor.RunningAsync(cancellationToken);
        int started = 0, attached = 0, finished = 0, unknown = 0;
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
            switch (runner.Recover(job, supervised))
            {
                case JobRunner.Recovered.Attached:
                    attached++;
                    break;
                case JobRunner.Recovered.Unknown:
                    unknown++;
                    break;
                case JobRunner.Recovered.Continued:
                    started++;
                    break;
                default:
                    finished++;
                    break;
            }
        }
        LogLoaded(store.All.Count, started, attached, finished, unknown, store.Root);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        runner.Detach();
        return Task.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Loaded {Jobs} jobs from {Root}: {Started} commands started, {Attached} running commands re-attached, {Finished} jobs finished by their recorded exit codes, {Unknown} whose command was gone without one stopped")]
    private partial void LogLoaded(int jobs, int started, int attached, int finished, int unknown, string root);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job directory {Directory} cannot be read; it is left out")]
    private partial void LogUnreadable(string directory, Exception error);
}
