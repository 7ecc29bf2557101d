using System.Threading.Channels;
using Drover.Aws;
using Drover.Aws.Ec2;
using Drover.Contracts;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Nodes;

/// <summary>
/// Processors found on EC2 (<c>Aws:Ec2Discovery</c>) become nodes the way a heartbeat makes one: their
/// <c>/processor/info</c> is read (with <c>Scheduler:NodeToken</c>) and registered under the instance id, at the
/// instance's private address, with its instance id, DNS name and tags as labels. The info is read again every
/// <c>Scheduler:ReconcileInterval</c>, which keeps the node up as a heartbeat would. An instance that vanishes is
/// drained: its running jobs are followed to the end, no new job goes there. Off unless EC2 discovery is enabled.
/// </summary>
internal sealed partial class Ec2NodeDiscovery(
    Ec2Processors processors, NodeRegistry nodes, Cluster.Leadership leadership, INodeBackend backend, IOptions<AwsOptions> aws, IOptions<SchedulerOptions> options,
    TimeProvider time, ILogger<Ec2NodeDiscovery> logger) : BackgroundService
{
    private readonly Channel<DiscoveryChange> _changes = Channel.CreateUnbounded<DiscoveryChange>(new UnboundedChannelOptions { SingleReader = true });

    // Nodes this process drained because their instance vanished: only those are undrained when it comes back, so a
    // drain asked for by hand stays. Touched by the one loop that handles changes.
    private readonly HashSet<string> _drainedHere = new(StringComparer.Ordinal);

    public static void Add(IServiceCollection services)
    {
        services.AddSingleton<IDiscoveredNodeUsage, ActiveAttemptUsage>();
        services.AddHostedService<Ec2NodeDiscovery>();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!aws.Value.Ec2Discovery.Enabled)
            return;
        // Changes are raised on discovery's own loop; they are handled here, one at a time and in order.
        processors.Changed += Enqueue;
        try
        {
            await Task.WhenAll(FollowChangesAsync(stoppingToken), RefreshAsync(stoppingToken));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
        finally
        {
            processors.Changed -= Enqueue;
        }
    }

    private void Enqueue(DiscoveryChange change) => _changes.Writer.TryWrite(change);

    private async Task FollowChangesAsync(CancellationToken stoppingToken)
    {
        await foreach (var change in _changes.Reader.ReadAllAsync(stoppingToken))
        {
            try
            {
                await ApplyAsync(change, stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                LogChangeFailed(e, change.Kind, change.Node.Processor.Name);
            }
        }
    }

    private async Task ApplyAsync(DiscoveryChange change, CancellationToken cancellationToken)
    {
        // Registrations and drains are made by the maintenance lease's holder alone; a scheduler that takes the
        // lease later catches up in its refresh.
        if (!leadership.IsLeader)
            return;
        var name = change.Node.Processor.Name;
        switch (change.Kind)
        {
            case DiscoveryChangeKind.Added or DiscoveryChangeKind.Updated or DiscoveryChangeKind.Returned:
                // Added again after it was forgotten (Removed), or Returned while still draining: back in service.
                await RegisterAsync(change.Node.Processor, cancellationToken);
                if (_drainedHere.Remove(name))
                    await nodes.SetDrainedAsync(name, false, cancellationToken);
                break;
            case DiscoveryChangeKind.Draining:
                if (nodes.Find(name) is { Drained: false })
                {
                    await nodes.SetDrainedAsync(name, true, cancellationToken);
                    _drainedHere.Add(name);
                }
                LogDrained(name);
                break;
            case DiscoveryChangeKind.Removed:
                // Drained with no job left; it stays listed (drained, then down) so its jobs' records still name a node.
                break;
        }
    }

    /// <summary>Every active instance's info now and then: a node that answers stays up, one that does not goes down.</summary>
    private async Task RefreshAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.ReconcileInterval, time);
        do
        {
            if (!leadership.IsLeader)
                continue;
            foreach (var gone in processors.Nodes.Where(n => n.State == DiscoveredState.Draining))
            {
                if (nodes.Find(gone.Processor.Name) is { Drained: false })
                {
                    await nodes.SetDrainedAsync(gone.Processor.Name, true, stoppingToken);
                    _drainedHere.Add(gone.Processor.Name);
                }
            }
            var active = processors.Nodes.Where(n => n.State == DiscoveredState.Active).Select(n => n.Processor);
            await Parallel.ForEachAsync(active, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = stoppingToken },
                async (processor, token) =>
                {
                    try
                    {
                        await RegisterAsync(processor, token);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        LogChangeFailed(e, DiscoveryChangeKind.Updated, processor.Name);
                    }
                });
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    private async Task RegisterAsync(DiscoveredProcessor processor, CancellationToken cancellationToken)
    {
        var target = new NodeTarget(processor.Name, new Uri(processor.Uri.TrimEnd('/') + "/"), options.Value.NodeToken);
        NodeInfo info;
        try
        {
            info = await backend.GetInfoAsync(target, cancellationToken);
        }
        catch (Exception e) when (e is NodeUnreachableException or System.Text.Json.JsonException)
        {
            // Not up yet (still booting) or not a Processor: asked again at the next refresh.
            nodes.Failed(processor.Name, e.Message);
            LogInfoFailed(processor.Name, processor.Uri, e.Message);
            return;
        }
        var labels = new Dictionary<string, string>(info.Labels, StringComparer.Ordinal);
        foreach (var (key, value) in processor.Metadata())
            labels[key] = value;
        // The instance names the node and says where it is; the Processor's own name and bound address are not used.
        await nodes.HeartbeatAsync(info with { Name = processor.Name, Uri = processor.Uri, Labels = labels }, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "EC2 discovery: handling {Kind} of {Node} failed")]
    private partial void LogChangeFailed(Exception error, DiscoveryChangeKind kind, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "EC2 discovery: {Node} at {Uri} did not answer /processor/info: {Detail}")]
    private partial void LogInfoFailed(string node, string uri, string detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "EC2 discovery: instance {Node} is gone; drained, its running jobs carry on")]
    private partial void LogDrained(string node);
}

/// <summary>A vanished instance stays (drained) while the store has attempts placed or running on it.</summary>
internal sealed class ActiveAttemptUsage(IJobStore store) : IDiscoveredNodeUsage
{
    public async ValueTask<bool> HasJobsAsync(string nodeName, CancellationToken cancellationToken) =>
        (await store.ListActiveAttemptsAsync(nodeName, mine: false, cancellationToken)).Count > 0;
}
