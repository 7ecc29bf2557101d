using Drover.Scheduler.Cluster;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Nodes;

namespace Drover.Scheduler.Storage;

/// <summary>
/// Before anything else runs: creates or migrates the schema, makes this scheduler present (and, over a SQLite file
/// only it can have open, the owner of every active attempt at once), and loads the nodes.
/// </summary>
internal sealed class StoreInitializer(IJobStore store, NodeRegistry nodes, PresenceService presence, TimeProvider time) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        if (store.Exclusive)
            await store.TakeOverAsync(Wire.Millis(time.GetUtcNow()), all: true, cancellationToken);
        await nodes.LoadAsync(cancellationToken);
        await presence.RenewAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
