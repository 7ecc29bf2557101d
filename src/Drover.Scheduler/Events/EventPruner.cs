using Drover.Scheduler.Jobs;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Events;

/// <summary>Keeps the event log bounded: events older than <c>EventRetention</c> or beyond the newest <c>MaxEvents</c> go.</summary>
internal sealed partial class EventPruner(IJobStore store, Cluster.Leadership leadership, IOptions<SchedulerOptions> options, TimeProvider time, ILogger<EventPruner> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.EventPruneInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (!leadership.IsLeader)
                continue; // another scheduler sharing the database does it
            try
            {
                var olderThan = Wire.Millis(time.GetUtcNow() - options.Value.EventRetention);
                await store.PruneEventsAsync(olderThan, options.Value.MaxEvents, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogPruneFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Pruning the event log failed; the next tick tries again")]
    private partial void LogPruneFailed(Exception error);
}
