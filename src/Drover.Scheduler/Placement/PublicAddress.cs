using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Placement;

/// <summary>The <c>DROVER_URL</c> a job gets: the configured public URL, or where this scheduler listens.</summary>
internal sealed class PublicAddress(IServer server, IOptions<SchedulerOptions> options)
{
    public string Url
    {
        get
        {
            if (options.Value.PublicUrl is { Length: > 0 } configured)
                return configured.TrimEnd('/');
            var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://127.0.0.1:8081";
            // A wildcard bind is no address to call back on; the local loopback reaches it.
            return address.Replace("://0.0.0.0", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://[::]", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://+", "://127.0.0.1", StringComparison.Ordinal)
                .Replace("://*", "://127.0.0.1", StringComparison.Ordinal)
                .TrimEnd('/');
        }
    }
}
