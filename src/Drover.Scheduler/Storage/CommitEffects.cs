namespace Drover.Scheduler.Storage;

/// <summary>
/// What one committed write set off. The store reports it and acts on none of it: it wakes no loop and touches no
/// file. <see cref="WakeAt"/> is the earliest moment (Unix ms) a job it queued again becomes placeable (a retry's backoff).
/// </summary>
internal sealed record CommitEffects(bool Events, bool Work, IReadOnlyList<string> FilesToDelete, long? WakeAt)
{
    /// <summary>Another scheduler's commit, heard through the database (PostgreSQL's NOTIFY).</summary>
    public static CommitEffects Heard(bool work) => new(true, work, [], null);
}

/// <summary>Told of every commit's effects, after the commit and in commit order (within this scheduler).</summary>
internal interface ICommitObserver
{
    void Committed(CommitEffects effects);
}
