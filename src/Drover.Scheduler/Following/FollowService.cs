using Drover.Scheduler.Nodes;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Following;

/// <summary>Polls nodes with active attempts every poll interval, and asks configured nodes for their info every reconcile interval.</summary>
internal sealed partial class FollowService(
    Follower follower, NodeRegistry nodes, INodeBackend backend, IOptions<SchedulerOptions> options, TimeProvider time,
    ILogger<FollowService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var lastRefresh = DateTimeOffset.MinValue;
        using var timer = new PeriodicTimer(options.Value.PollInterval, time);
        do
        {
            try
            {
                if (time.GetUtcNow() - lastRefresh >= options.Value.ReconcileInterval)
                {
                    lastRefresh = time.GetUtcNow();
                    await RefreshConfiguredNodesAsync(stoppingToken);
                }
                await nodes.RefreshAsync(stoppingToken);
                await follower.FenceAsync(stoppingToken);
                await follower.PollAsync(stoppingToken);
            }
            catch (Exception e) when (!stoppingToken.IsCancellationRequested)
            {
                LogTickFailed(e);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task RefreshConfiguredNodesAsync(CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(nodes.Snapshot().Where(n => n.Source == "static"), cancellationToken, async (node, token) =>
        {
            try
            {
                await nodes.RefreshedAsync(node.Name, await backend.GetInfoAsync(node.Target, token), token);
            }
            catch (NodeUnreachableException e)
            {
                nodes.Failed(node.Name, e.Message);
                LogRefreshFailed(node.Name, e.Message);
            }
        });
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "A follow-up tick failed; the next one tries again")]
    private partial void LogTickFailed(Exception error);

    [LoggerMessage(Level = LogLevel.Information, Message = "Node {Node} did not answer /processor/info: {Detail}")]
    private partial void LogRefreshFailed(string node, string detail);
}
