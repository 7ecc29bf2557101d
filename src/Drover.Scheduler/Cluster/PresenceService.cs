using Drover.Scheduler.Jobs;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Cluster;

/// <summary>
/// This scheduler's part among those sharing the database, every fifth of <c>Scheduler:LeaseDuration</c>: it renews
/// its presence (lapsed, its attempts are taken over by the others), writes the heartbeats it heard, takes or renews
/// the maintenance lease, and takes over the attempts of schedulers that are gone. On a clean stop it leaves, so
/// that the others take over at once rather than after the lease.
/// </summary>
internal sealed partial class PresenceService(
    IJobStore store, NodeRegistry nodes, Leadership leadership, PublicAddress address, PlacementSignal placement,
    IOptions<SchedulerOptions> options, TimeProvider time, ILogger<PresenceService> logger) : BackgroundService
{
    public const string MaintenanceLease = "maintenance";

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.LeaseDuration / 5, time);
        do
        {
            try
            {
                await RenewAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                // A scheduler that cannot reach the database loses its lease and its attempts: the others carry on.
                leadership.Set(false);
                LogRenewFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    /// <summary>One round; also run once at start-up, before the loops (see <see cref="StoreInitializer"/>).</summary>
    public async Task RenewAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var until = Wire.Millis(now + options.Value.LeaseDuration);
        await store.RenewPresenceAsync(address.Url, Wire.Millis(now), until, cancellationToken);
        await nodes.SaveHeardAsync(cancellationToken);
        var leader = await store.TryLeaseAsync(MaintenanceLease, Wire.Millis(now), until, cancellationToken);
        if (leader != leadership.IsLeader)
            LogLeadership(leader ? "took" : "lost");
        leadership.Set(leader);
        var taken = await store.TakeOverAsync(Wire.Millis(now), all: false, cancellationToken);
        if (taken > 0)
        {
            LogTookOver(taken);
            placement.Wake();
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken);
        try
        {
            await store.LeaveAsync(Wire.Millis(time.GetUtcNow()), cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogLeaveFailed(e);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Renewing this scheduler's presence failed; the next round tries again")]
    private partial void LogRenewFailed(Exception error);

    [LoggerMessage(Level = LogLevel.Information, Message = "This scheduler {Change} the maintenance lease")]
    private partial void LogLeadership(string change);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Took over {Count} attempts of schedulers that are gone")]
    private partial void LogTookOver(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Leaving the cluster failed; the others take this scheduler's attempts over once its lease lapses")]
    private partial void LogLeaveFailed(Exception error);
}
