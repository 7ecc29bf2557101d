using Drover.Contracts;

namespace Drover.Processor.Jobs;

/// <summary>
/// One job in the Processor's memory: the index that answers every call without touching the disk. The files under
/// <see cref="Directory"/> are the truth that survives a restart; this object mirrors them.
/// </summary>
internal sealed class Job(string id, string directory, NodeJobRequest? spec, NodeJobStatus status)
{
    private readonly TaskCompletionSource _recorded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile NodeJobStatus _status = status;

    public string Id { get; } = id;
    public string Directory { get; } = directory;
    public string WorkDirectory => Path.Combine(Directory, "work");
    public string LogPath => Path.Combine(Directory, "log");

    /// <summary>What to run; only needed until the job stops (jobs loaded stopped from disk leave it null).</summary>
    public NodeJobRequest? Spec { get; set; } = spec;

    /// <summary>Guards status changes, <see cref="KillReason"/> and <see cref="Current"/> so a kill and a start never cross.</summary>
    public Lock Gate { get; } = new();

    public NodeJobStatus Status => _status;

    /// <summary>Set once a kill or timeout is asked for; the runner starts no further command after it.</summary>
    public StopReason? KillReason { get; set; }

    /// <summary>The command running now, if any.</summary>
    public RunningCommand? Current { get; set; }

    /// <summary>Completes once the job is on disk; a second request with the same id waits for it.</summary>
    public Task Recorded => _recorded.Task;

    public Task Stopped => _stopped.Task;

    public bool IsStopped => _status.State == JobState.Stopped;

    public void SetStatus(NodeJobStatus status) => _status = status;

    public void MarkRecorded() => _recorded.TrySetResult();

    public void FailRecording(Exception error) => _recorded.TrySetException(error);

    public void MarkStopped() => _stopped.TrySetResult();
}
