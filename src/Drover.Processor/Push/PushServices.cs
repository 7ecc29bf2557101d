using Drover.Contracts;
using Drover.Processor.Nodes;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Push;

/// <summary>Registers the node with its scheduler at start and then every heartbeat interval.</summary>
internal sealed partial class HeartbeatService(
    SchedulerClient scheduler, NodeInfoSource info, IOptions<ProcessorOptions> options, TimeProvider time, IHostApplicationLifetime lifetime,
    ILogger<HeartbeatService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!scheduler.Enabled)
            return;
        // Register only once the server listens: before that the node's address is not known, nor can it be called.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval, time);
        do
        {
            try
            {
                await scheduler.HeartbeatAsync(info.Current(), stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogHeartbeatFailed(e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Heartbeat to the scheduler failed: {Error}")]
    private partial void LogHeartbeatFailed(string error);
}

/// <summary>
/// Pushes job state changes to the scheduler as they happen: it wakes on the first change, takes whatever else has
/// queued up meanwhile, and posts them as one batch. A failed push is logged and dropped; running jobs never notice.
/// </summary>
internal sealed partial class PushService(
    SchedulerClient scheduler, JobEvents events, ILogger<PushService> logger) : BackgroundService
{
    private const int MaxBatch = 500;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!scheduler.Enabled)
            return;
        var batch = new List<NodeJobStatus>(MaxBatch);
        while (await events.Changes.WaitToReadAsync(stoppingToken))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && events.Changes.TryRead(out var change))
                batch.Add(change);
            try
            {
                await scheduler.PushJobsAsync(batch.ToArray(), stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogPushFailed(batch.Count, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Push of {Count} job changes to the scheduler failed: {Error}")]
    private partial void LogPushFailed(int count, string error);
}
