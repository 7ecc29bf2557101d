using Drover.Scheduler.Events;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// Acts on what the store's commits set off, here and heard from other schedulers: event streams read what is new,
/// placement looks when there is work (or when a retry's backoff ends), and the uploads of jobs that will never run
/// again are deleted. The one place that does so, so no caller of the store has to remember it.
/// </summary>
internal sealed class CommitReactions(EventFeed feed, PlacementSignal placement, ILogger<CommitReactions> logger) : ICommitObserver
{
    public void Committed(CommitEffects effects)
    {
        if (effects.Events)
            feed.Published();
        if (effects.Work)
            placement.Wake();
        if (effects.WakeAt is { } at)
            placement.WakeAt(Wire.Time(at));
        foreach (var dir in effects.FilesToDelete)
            JobFiles.Delete(dir, logger);
    }
}
