using System.Net.Http.Headers;
using Drover.Contracts;
using Drover.EcsService.Jobs;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.EcsService.Nodes;

/// <summary>
/// Registers the node with its scheduler (a heartbeat at start and every interval) and pushes the job changes the
/// watcher sees, as a Processor does, each call to whichever of its schedulers answers (<see cref="SchedulerFailover"/>).
/// Both are facts, so a retry is harmless; a failure is logged and the scheduler's own poll stays the path that is always right.
/// </summary>
internal sealed partial class SchedulerLink(
    IHttpClientFactory clients, IOptions<EcsNodeServiceOptions> options, TimeProvider time, ILogger<SchedulerLink> logger)
{
    public const string HttpClientName = "scheduler";
    private readonly SchedulerFailover _failover = new(options.Value.Schedulers(), time);

    public bool Enabled => _failover.Schedulers.Count > 0;

    public static void Configure(IServiceProvider services, HttpClient client)
    {
        var settings = services.GetRequiredService<IOptions<EcsNodeServiceOptions>>().Value;
        if (!string.IsNullOrEmpty(settings.SchedulerToken))
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.SchedulerToken);
    }

    public Task HeartbeatAsync(NodeInfo info, CancellationToken cancellationToken) =>
        PostAsync(NodeRoutes.Heartbeat, info, cancellationToken);

    public Task PushAsync(string node, IReadOnlyList<NodeJobStatus> jobs, CancellationToken cancellationToken) =>
        PostAsync(NodeRoutes.PushJobs.Replace("{name}", Uri.EscapeDataString(node), StringComparison.Ordinal),
            new NodeJobList { Jobs = jobs }, cancellationToken);

    private async Task PostAsync<T>(string route, T body, CancellationToken cancellationToken)
    {
        try
        {
            await _failover.PostAsJsonAsync(clients.CreateClient(HttpClientName), route, body, cancellationToken);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            LogFailed(route, e.Message);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Route} to the scheduler failed: {Error}")]
    private partial void LogFailed(string route, string error);
}

/// <summary>Heartbeats, once the server listens (before that the node's address is not known).</summary>
internal sealed class HeartbeatService(
    SchedulerLink scheduler, NodeInfoSource info, IOptions<EcsNodeServiceOptions> options, TimeProvider time, IHostApplicationLifetime lifetime)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!scheduler.Enabled)
            return;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            await started.Task.WaitAsync(stoppingToken);
        using var timer = new PeriodicTimer(options.Value.HeartbeatInterval, time);
        do
            await scheduler.HeartbeatAsync(info.Current(), stoppingToken);
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}

/// <summary>
/// Reads the cluster's Drover tasks back at start (until ECS answers), then follows the running jobs: stops those
/// past their timeout, and pushes what changed. ECS has no timeouts of its own, so this loop is what enforces them.
/// </summary>
internal sealed partial class TaskWatcher(
    EcsJobs jobs, SchedulerLink scheduler, IOptions<EcsNodeServiceOptions> options, TimeProvider time, ILogger<TaskWatcher> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.TimeoutCheckInterval, time);
        while (!jobs.Recovered)
        {
            try
            {
                var adopted = await jobs.RecoverAsync(stoppingToken);
                LogRecovered(adopted);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogRecoveryFailed(e.Message);
                await timer.WaitForNextTickAsync(stoppingToken);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                await jobs.StopOverdueAsync(stoppingToken);
                var watched = jobs.Unfinished.ToList();
                if (watched.Count == 0)
                    continue;
                var before = watched.ToDictionary(j => j.RequestId, j => j.Last, StringComparer.Ordinal);
                var now = await jobs.StatusAsync(watched, stoppingToken);
                var changed = now.Where(s => before[s.RequestId] is not { } was || was.State != s.State).ToList();
                if (changed.Count > 0 && scheduler.Enabled)
                    await scheduler.PushAsync(jobs.Cluster.Name, changed, stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogWatchFailed(e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Took back {Count} Drover tasks that ECS still lists")]
    private partial void LogRecovered(int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the cluster's tasks back failed ({Error}); trying again")]
    private partial void LogRecoveryFailed(string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Following the running tasks failed: {Error}")]
    private partial void LogWatchFailed(string error);
}
