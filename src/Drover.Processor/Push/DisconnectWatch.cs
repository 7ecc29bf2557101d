using Drover.Contracts;
using Drover.Processor.Jobs;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Push;

/// <summary>
/// Stops the jobs that ask for it (<c>stop_when_disconnected</c>) once this node could not reach its scheduler for
/// <see cref="ProcessorOptions.DisconnectedStopAfter"/> (none of its schedulers, when it has several): the scheduler declares a node lost after its own heartbeat
/// timeout and runs its jobs elsewhere, and these jobs must not run on beside that (as Nomad's
/// <c>stop_after_client_disconnect</c>). They stop with reason <c>node_lost</c>, which the scheduler always retries.
/// </summary>
internal sealed partial class DisconnectWatch(
    SchedulerClient scheduler, JobStore store, JobRunner runner, IOptions<ProcessorOptions> options, TimeProvider time,
    ILogger<DisconnectWatch> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!scheduler.Enabled)
            return;
        var limit = options.Value.DisconnectedStopAfter;
        using var timer = new PeriodicTimer(limit / 10, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                var silent = time.GetUtcNow() - scheduler.LastReached;
                if (silent <= limit)
                    continue;
                foreach (var job in store.All)
                {
                    if (job.IsStopped || job.KillReason is not null || job.Spec is not { StopWhenDisconnected: true })
                        continue;
                    LogStopping(job.Id, silent.TotalSeconds);
                    _ = runner.KillAsync(job, StopReason.NodeLost, CancellationToken.None);
                }
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogTickFailed(e);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {RequestId} asked to stop when disconnected: the scheduler was not reached for {Seconds:0.#} s, killing it")]
    private partial void LogStopping(string requestId, double seconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "A disconnect check failed; the next one tries again")]
    private partial void LogTickFailed(Exception error);
}
