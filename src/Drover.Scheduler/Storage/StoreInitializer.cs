using Drover.Scheduler.Nodes;

namespace Drover.Scheduler.Storage;

/// <summary>Creates or migrates the schema and loads the nodes before anything else runs (registered first).</summary>
internal sealed class StoreInitializer(IJobStore store, NodeRegistry nodes) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await store.InitializeAsync(cancellationToken);
        await nodes.LoadAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
