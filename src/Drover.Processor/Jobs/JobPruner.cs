using Microsoft.Extensions.Options;

namespace Drover.Processor.Jobs;

/// <summary>
/// Forgets jobs stopped longer ago than <c>Processor:JobRetention</c> (default 7 days), so that a node's state
/// directory and memory do not grow without end. Looks every tenth of the retention (at least every second, at most
/// every hour). A scheduler asks about its attempts long before; a forgotten job answers 404 like one never known.
/// </summary>
internal sealed partial class JobPruner(JobStore jobs, IOptions<ProcessorOptions> options, TimeProvider time, ILogger<JobPruner> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var retention = options.Value.JobRetention;
        var every = TimeSpan.FromTicks(Math.Clamp(retention.Ticks / 10, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour));
        using var timer = new PeriodicTimer(every, time);
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            var cutoff = time.GetUtcNow() - retention;
            foreach (var job in jobs.All.Where(j => j.IsStopped && j.Status.FinishedAt is { } finished && finished < cutoff).ToList())
            {
                try
                {
                    jobs.Delete(job);
                    LogForgotten(job.Id, retention);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    LogDeleteFailed(e, job.Id);
                }
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {RequestId} stopped more than {Retention} ago: forgotten, its directory deleted")]
    private partial void LogForgotten(string requestId, TimeSpan retention);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Deleting the directory of job {RequestId} failed; it is tried again at the next look")]
    private partial void LogDeleteFailed(Exception error, string requestId);
}
