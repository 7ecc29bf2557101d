namespace Drover.Contracts;

/// <summary>Where a job is in its life. The seed's first axis.</summary>
public enum JobState
{
    Queued,
    Placed,
    Running,
    Stopped,
}

/// <summary>How a job ended; <see cref="Unknown"/> until it stops. The seed's second axis.</summary>
public enum JobStatus
{
    Unknown,
    Good,
    Error,
}

/// <summary>Why a job stopped with <see cref="JobStatus.Error"/>.</summary>
public enum StopReason
{
    ExitCode,
    TimedOut,
    Killed,
    Cancelled,
    NodeLost,
    NodeRestarted,
    PlacementFailed,
    RetriesExhausted,
    DependencyFailed,

    /// <summary>Never ran because the only path to it was not taken: an <c>afternotok</c> edge whose job ended good (or a job skipped before it). Counts as good for its DAG.</summary>
    Skipped,

    /// <summary>Its own commands ended good but one of the children it waited for (<c>wait_for_children</c>) did not.</summary>
    ChildrenFailed,
}
