using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Drover.Aws.Ec2;

/// <summary>Lists the tagged instances every refresh interval and feeds the listing to <see cref="Ec2Processors"/>.</summary>
internal sealed partial class Ec2DiscoveryService(
    IOptions<AwsOptions> options, Ec2Processors processors, TimeProvider time, ILogger<Ec2DiscoveryService> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value.Ec2Discovery;
        if (!settings.Enabled)
            return;
        using var ec2 = Ec2Discovery.CreateClient(options.Value, settings);
        var discovery = new Ec2Discovery(ec2, settings);
        using var timer = new PeriodicTimer(settings.RefreshInterval, time);
        do
        {
            try
            {
                var listing = await discovery.ListAsync(stoppingToken);
                foreach (var change in await processors.ApplyAsync(listing, stoppingToken))
                    LogChange(change.Kind, change.Node.Processor.Name, change.Node.Processor.Uri);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                // One bad tick (AWS error, network, a failing usage check) must not end discovery.
                processors.Failed(e.Message);
                logger.LogWarning(e, "EC2 discovery: refresh failed; keeping the nodes known so far");
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "EC2 discovery: {Kind} {Node} at {Uri}")]
    private partial void LogChange(DiscoveryChangeKind kind, string node, string uri);
}
