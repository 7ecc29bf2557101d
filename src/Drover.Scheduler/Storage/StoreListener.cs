using Drover.Scheduler.Events;
using Drover.Scheduler.Placement;

namespace Drover.Scheduler.Storage;

/// <summary>Hears other schedulers' commits (PostgreSQL's LISTEN): their events reach this one's streams, their work its placement loop.</summary>
internal sealed class StoreListener(SqlDialect dialect, EventFeed feed, PlacementSignal placement) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        dialect.ListenAsync(work =>
        {
            feed.Published();
            if (work)
                placement.Wake();
        }, stoppingToken);
}
