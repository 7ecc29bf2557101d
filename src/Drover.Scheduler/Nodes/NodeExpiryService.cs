using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Nodes;

/// <summary>Every reconcile interval, forgets registered nodes unseen for <c>Scheduler:NodeExpiry</c> that have no active attempt.</summary>
internal sealed partial class NodeExpiryService(
    NodeRegistry nodes, IJobStore store, Cluster.Leadership leadership, IOptions<SchedulerOptions> options, TimeProvider time, ILogger<NodeExpiryService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReconcileInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!leadership.IsLeader)
                continue; // another scheduler sharing the database does it
            try
            {
                var busy = (await store.CountActiveByNodeAsync(stoppingToken)).Keys.ToHashSet(StringComparer.Ordinal);
                foreach (var name in await nodes.ExpireAsync(busy, stoppingToken))
                    LogExpired(name, options.Value.NodeExpiry);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogTickFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {Node} was not heard from for {Expiry} and runs nothing: its registration is removed")]
    private partial void LogExpired(string node, TimeSpan expiry);

    [LoggerMessage(Level = LogLevel.Error, Message = "Expiring nodes failed; the next tick tries again")]
    private partial void LogTickFailed(Exception error);
}
