using Drover.Contracts;
using Drover.Processor.Push;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Jobs;

/// <summary>
/// Runs a job's commands one after another, each as its own process group, and records how the job ends.
/// </summary>
internal sealed partial class JobRunner(
    SlotGate slots, JobEvents events, SupervisorClient supervisor, IOptions<ProcessorOptions> options, TimeProvider time, ILogger<JobRunner> logger)
    : IDisposable
{
    // How a command is started: by the node's supervisor (see Supervisor), a long-lived process of its own that
    // outlives the Processor's service, with posix_spawn of the user's argv itself: one exec per command.
    // - posix_spawn makes the command the leader of a new session and process group (its pid is the group id), so a
    //   kill reaches everything it started. The argv is never parsed by a shell; a shell runs only when the job asks
    //   for one ({"shell": ...} is /bin/sh -c). A program name without a slash is looked up in the job's own PATH.
    // - Its stdin is /dev/null, its stdout and stderr the same file descriptor on the log, opened for append, so the
    //   log has the output in exactly the order the command produced it, which copying two pipes could not promise;
    //   the output also keeps flowing to the log if the Processor restarts. It inherits no other descriptor.
    // - The supervisor is the command's parent and a subreaper: it reaps it, writes its exit code to exit_code.N
    //   (to a temporary file, then renamed) and tells the Processor. A Processor that restarts while commands run
    //   reconnects, asks which still run, and learns the rest from the files; as slurmstepd is for Slurm.
    // - If the supervisor itself dies, its commands are re-parented to the Processor (a subreaper too) and reaped
    //   here; a command nobody could reap ends with node_restarted. The next command starts a new supervisor.

    private readonly CancellationTokenSource _detach = new();

    // What commands get of the Processor's own environment, read once: a short list, never its configuration or tokens.
    private readonly System.Collections.IDictionary _environment =
        JobEnvironment.Inherited(Environment.GetEnvironmentVariables(), options.Value.InheritEnvironment);

    /// <summary>Starts running a job that holds a slot.</summary>
    public void Start(Job job) => _ = Task.Run(() => RunAsync(job, 0, null));

    /// <summary>
    /// Takes over a job found running when the Processor starts: re-attaches to its command while that still runs, and
    /// otherwise goes on from the exit codes the supervisor recorded, as if the Processor had never been away. Only a
    /// command that was started and is gone without an exit code leaves the job's end unknown (<c>node_restarted</c>).
    /// </summary>
    /// <param name="supervised">The commands the supervisor still waits for, by exit-code file.</param>
    public Recovered Recover(Job job, IReadOnlyDictionary<string, Supervised> supervised)
    {
        var count = job.Spec!.Commands.Count;
        var record = JobStore.ReadProcess(job);
        if (record is { StartTicks: > 0 } && ProcessGroups.StartTicks(record.Pid) == record.StartTicks)
        {
            // Under the supervisor it tells how the command ends; one whose supervisor died meanwhile is followed here.
            Resume(job, supervised.TryGetValue(JobStore.ExitCodePath(job, record.Command), out var command) && command.Pid == record.Pid
                ? RunningCommand.Supervised(record.Command, command)
                : RunningCommand.Attach(record.Command, record.Pid, record.StartTicks, JobStore.ExitCodePath(job, record.Command), time, _detach.Token));
            return Recovered.Attached;
        }
        // Commands run in order and the supervisor writes each one's exit code as it ends: the files say how far the job got.
        var next = 0;
        int? exit = null;
        while (next < count && RunningCommand.ReadExitCode(JobStore.ExitCodePath(job, next)) is { } code)
        {
            exit = code;
            next++;
            if (code != 0)
                break;
        }
        if (exit is { } last && (last != 0 || next == count))
        {
            Finish(job, completed: last == 0, last, next - 1, count);
            return Recovered.Finished;
        }
        // The Processor may have died between starting a command and recording its pid: the supervisor knows it by its exit-code file.
        if (supervised.TryGetValue(JobStore.ExitCodePath(job, next), out var unrecorded))
        {
            JobStore.SaveProcess(job, new ProcessRecord(next, unrecorded.Pid, unrecorded.StartTicks));
            Resume(job, RunningCommand.Supervised(next, unrecorded));
            return Recovered.Attached;
        }
        if (record?.Command == next)
        {
            StopAfterRestart(job, record);
            return Recovered.Unknown;
        }
        // No trace of command `next` having started (no record, no exit code, no process): the Processor died between
        // two commands, or before the first; running it now runs it once.
        _ = Task.Run(() => RunAsync(job, next, null));
        return Recovered.Continued;
    }

    private void Resume(Job job, RunningCommand attached) => _ = Task.Run(() => RunAsync(job, attached.Index, attached));

    /// <summary>
    /// The Processor is stopping: let go of every job without touching its files. The commands keep running and a
    /// new Processor over the same state directory re-attaches to them.
    /// </summary>
    public void Detach() => _detach.Cancel();

    private async Task RunAsync(Job job, int first, RunningCommand? attached)
    {
        var detach = _detach.Token;
        var spec = job.Spec!;
        ITimer? timeout = null;
        try
        {
            if (detach.IsCancellationRequested)
                return;
            // A job accepted by this Processor is recorded running already; one found queued at start-up is not.
            if (attached is null && job.Status.State == JobState.Queued)
                MarkRunning(job);
            timeout = StartTimeout(job, spec);

            int? exit = null;
            var index = first;
            for (; index < spec.Commands.Count; index++)
            {
                // Stopping between two commands: start no more; the next Processor finds the last one ended.
                if (index > first)
                    detach.ThrowIfCancellationRequested();
                var command = index == first && attached is not null ? Adopt(job, attached) : await StartCommandAsync(job, spec, index, detach);
                if (command is null)
                    break;
                exit = await command.Exited.WaitAsync(detach);
                lock (job.Gate)
                    job.Current = null;
                // Whatever a command left behind in its group ends with it, so nothing outlives its job. (The group
                // id cannot be reused while any member lives; it is signalled right after the leader is reaped.)
                command.Signal(ProcessGroups.SigKill);
                if (exit != 0)
                    break;
            }
            Finish(job, index == spec.Commands.Count && exit == 0, exit, index, spec.Commands.Count);
        }
        catch (OperationCanceledException) when (detach.IsCancellationRequested)
        {
            // Stopping: the job stays as it is on disk for the next Processor.
        }
        catch (Exception e)
        {
            LogRunFailed(job.Id, e);
            RunningCommand? orphan;
            lock (job.Gate)
                (orphan, job.Current) = (job.Current, null);
            orphan?.Signal(ProcessGroups.SigKill); // a job recorded as stopped leaves nothing running
            Finish(job, completed: false, exit: null, index: -1, count: spec.Commands.Count, failure: e.Message);
        }
        finally
        {
            timeout?.Dispose();
        }
    }

    private static RunningCommand Adopt(Job job, RunningCommand attached)
    {
        lock (job.Gate)
            job.Current = attached;
        return attached;
    }

    private void MarkRunning(Job job)
    {
        NodeJobStatus running;
        // Durable before the first command starts: a Processor that crashes after this never starts the job again.
        lock (job.Gate)
        {
            running = job.Status with { State = JobState.Running, StartedAt = time.GetUtcNow() };
            JobStore.SaveStatus(job, running, durable: true);
        }
        events.Publish(running);
    }

    private ITimer? StartTimeout(Job job, NodeJobRequest spec)
    {
        if (spec.TimeoutSeconds is not { } seconds)
            return null;
        var started = job.Status.StartedAt ?? time.GetUtcNow();
        var left = started + TimeSpan.FromSeconds(seconds) - time.GetUtcNow();
        return time.CreateTimer(_ => _ = KillAsync(job, StopReason.TimedOut, CancellationToken.None), null,
            left > TimeSpan.Zero ? left : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
    }

    private async Task<RunningCommand?> StartCommandAsync(Job job, NodeJobRequest spec, int index, CancellationToken detach)
    {
        lock (job.Gate)
        {
            if (job.KillReason is not null)
                return null;
        }
        var started = await supervisor.StartAsync(spec.Commands[index].ToArgv(), JobEnvironment.Of(_environment, spec.Environment),
            job.WorkDirectory, job.LogPath, JobStore.ExitCodePath(job, index), detach);
        var command = RunningCommand.Supervised(index, started);
        bool killed;
        // A kill that came while the command was starting did not find it to signal: it is ended here instead.
        lock (job.Gate)
        {
            job.Current = command;
            killed = job.KillReason is not null;
        }
        if (killed)
            _ = EndGroupAsync(command);
        if (started.Pid > 0)
            JobStore.SaveProcess(job, new ProcessRecord(index, started.Pid, started.StartTicks));
        return command;
    }

    /// <summary>Ends a job whose command was started and is gone without an exit code: how it ended cannot be told.</summary>
    private void StopAfterRestart(Job job, ProcessRecord record)
    {
        var count = job.Spec?.Commands.Count ?? 0;
        var message = $"the Processor restarted while command {record.Command + 1} of {count} ran, and that process is gone without an exit code; how it ended is unknown";
        Finish(job, completed: false, null, record.Command, count, message, StopReason.NodeRestarted);
    }

    private void Finish(Job job, bool completed, int? exit, int index, int count, string? failure = null, StopReason? reason = null)
    {
        NodeJobStatus stopped;
        lock (job.Gate)
        {
            if (job.IsStopped)
                return;
            var status = job.Status;
            if (completed)
            {
                stopped = status with { Status = JobStatus.Good, ExitCode = exit, Reason = null };
            }
            else if (reason is not null)
            {
                stopped = status with { Status = JobStatus.Error, ExitCode = exit, Reason = reason, Message = failure ?? status.Message };
            }
            else if (job.KillReason is { } kill)
            {
                stopped = status with { Status = JobStatus.Error, ExitCode = null, Reason = kill };
            }
            else if (failure is not null)
            {
                // The command could not even be started (say, its working directory vanished): nothing ran.
                stopped = status with { Status = JobStatus.Error, ExitCode = null, Reason = StopReason.ExitCode, Message = failure };
            }
            else if (exit is null)
            {
                // A re-attached command ended with no supervisor left to reap it: no exit code exists.
                stopped = status with
                {
                    Status = JobStatus.Error,
                    Reason = StopReason.NodeRestarted,
                    Message = $"command {index + 1} of {count} was re-attached after a Processor restart and ended without an exit code",
                };
            }
            else
            {
                stopped = status with { Status = JobStatus.Error, ExitCode = exit, Reason = StopReason.ExitCode };
            }
            stopped = stopped with { State = JobState.Stopped, StartedAt = status.StartedAt ?? time.GetUtcNow(), FinishedAt = time.GetUtcNow() };
            if (exit is { } code)
                JobStore.SaveExitCode(job, code);
            JobStore.SaveStatus(job, stopped, durable: true);
            job.Spec = null;
        }
        slots.Release();
        job.MarkStopped();
        events.Publish(stopped);
        LogStopped(job.Id, stopped.Status, stopped.Reason, stopped.ExitCode);
    }

    /// <summary>
    /// Ends the job's whole process tree: SIGTERM to its group, SIGKILL after the grace period. Answers once the job
    /// has stopped. A queued job stops without starting; a stopped job is left as it is.
    /// </summary>
    public async Task<NodeJobStatus> KillAsync(Job job, StopReason reason, CancellationToken cancellationToken)
    {
        RunningCommand? current;
        lock (job.Gate)
        {
            if (job.IsStopped)
                return job.Status;
            job.KillReason ??= reason;
            current = job.Current;
        }
        if (current is not null)
            _ = EndGroupAsync(current); // not tied to the caller: a client that hangs up does not save the job
        await job.Stopped.WaitAsync(cancellationToken);
        return job.Status;
    }

    private async Task EndGroupAsync(RunningCommand command)
    {
        command.Signal(ProcessGroups.SigTerm);
        var grace = Task.Delay(options.Value.KillGracePeriod, time);
        if (await Task.WhenAny(command.Exited, grace) != command.Exited)
            command.Signal(ProcessGroups.SigKill);
    }

    public void Dispose() => _detach.Dispose();

    /// <summary>How <see cref="Recover"/> took a job over.</summary>
    public enum Recovered
    {
        /// <summary>Its command still runs and is followed again.</summary>
        Attached,

        /// <summary>Its commands had ended meanwhile; it stopped as they say.</summary>
        Finished,

        /// <summary>Its next command was started now.</summary>
        Continued,

        /// <summary>A command's end is unknown: stopped with <c>node_restarted</c>.</summary>
        Unknown,
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {RequestId} stopped: {Status} {Reason} exit code {ExitCode}")]
    private partial void LogStopped(string requestId, JobStatus status, StopReason? reason, int? exitCode);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {RequestId} could not be run")]
    private partial void LogRunFailed(string requestId, Exception error);
}
