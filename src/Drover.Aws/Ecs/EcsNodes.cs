using Drover.Aws.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Drover.Aws.Ecs;

/// <summary>The configured ECS nodes, by name, sharing the one signed, retrying AWS HTTP client.</summary>
public sealed class EcsNodes
{
    private readonly Dictionary<string, EcsNode> _byName;

    public EcsNodes(IOptions<AwsOptions> options, IHttpClientFactory http, TimeProvider time, ILoggerFactory loggers)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(http);
        _byName = options.Value.EcsNodes.ToDictionary(
            o => o.Name,
            o => new EcsNode(
                o,
                EcsClient.Create(http.CreateClient(AwsHttp.ClientName), o.Region, o.EndpointUrl, o.LogsEndpointUrl ?? o.EndpointUrl),
                time,
                loggers.CreateLogger<EcsNode>()),
            StringComparer.Ordinal);
    }

    public IReadOnlyCollection<EcsNode> All => _byName.Values;

    public EcsNode? Find(string name) => _byName.GetValueOrDefault(name);
}

/// <summary>Asks DescribeClusters for every ECS node now and then, so that the node list shows a current health.</summary>
internal sealed class EcsHealthService(EcsNodes nodes, IOptions<AwsOptions> options, TimeProvider time, ILogger<EcsHealthService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (nodes.All.Count == 0)
            return;
        using var timer = new PeriodicTimer(options.Value.EcsHealthInterval, time);
        do
        {
            foreach (var node in nodes.All)
            {
                try
                {
                    var health = await node.CheckHealthAsync(stoppingToken);
                    if (!health.Healthy)
                        logger.LogWarning("ECS node {Node} is unhealthy: {Error}", node.Name, health.Error);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogError(e, "ECS node {Node}: health check failed", node.Name);
                }
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }
}
