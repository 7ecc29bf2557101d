namespace Drover.Scheduler.Storage;

/// <summary>Hears other schedulers' commits (PostgreSQL's LISTEN): their events reach this one's streams, their work its placement loop.</summary>
internal sealed class StoreListener(SqlDialect dialect, ICommitObserver observer) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        dialect.ListenAsync(work => observer.Committed(CommitEffects.Heard(work)), stoppingToken);
}
