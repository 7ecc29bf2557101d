using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Drover.Contracts;
using Drover.Processor.Jobs;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Nodes;

/// <summary>What this node says about itself in <c>/processor/info</c> and in its heartbeats.</summary>
internal sealed class NodeInfoSource(IOptions<ProcessorOptions> options, SlotGate slots, IServer server, IHostApplicationLifetime lifetime)
{
    private static readonly string[] Features = [
        NodeFeatures.LogFollow, NodeFeatures.Slots, NodeFeatures.Multipart, NodeFeatures.Push, NodeFeatures.BatchStart, NodeFeatures.BatchStatus,
    ];
    private readonly Lazy<string> _hostname = new(Dns.GetHostName);
    private readonly Lazy<string[]> _ipv4 = new(FindIpv4);
    private readonly Lazy<string[]?> _schedulers = new(() => options.Value.Schedulers() is { Count: > 0 } schedulers
        ? [.. schedulers.Select(s => s.ToString())] : null);
    private string? _uri;

    public NodeInfo Current()
    {
        var settings = options.Value;
        return new NodeInfo
        {
            Name = settings.Name,
            Hostname = _hostname.Value,
            Ipv4 = _ipv4.Value,
            Uri = _uri ?? AdvertisedUri(),
            Labels = settings.Labels,
            Slots = slots.Capacity,
            Running = slots.InUse,
            Features = Features,
            JobRetentionSeconds = settings.JobRetention.TotalSeconds,
            SchedulerUrls = _schedulers.Value,
        };
    }

    private string AdvertisedUri()
    {
        if (options.Value.AdvertiseUri is { } configured)
            return _uri = configured.ToString().TrimEnd('/');
        var first = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        if (first is null)
            return "";
        // A wildcard binding is no address a scheduler can call: name the host by its first IPv4 address instead.
        var uri = new UriBuilder(first.Replace("://+", "://0.0.0.0", StringComparison.Ordinal).Replace("://*", "://0.0.0.0", StringComparison.Ordinal));
        if (uri.Host is "0.0.0.0" or "[::]" or "::")
            uri.Host = _ipv4.Value[0];
        var advertised = uri.Uri.ToString().TrimEnd('/');
        // Kept once the server listens: only then is a port of 0 replaced by the one actually bound.
        if (lifetime.ApplicationStarted.IsCancellationRequested)
            _uri = advertised;
        return advertised;
    }

    private static string[] FindIpv4()
    {
        var addresses = NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .Where(a => a.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a))
            .Select(a => a.ToString())
            .Distinct()
            .ToArray();
        return addresses.Length > 0 ? addresses : ["127.0.0.1"];
    }
}
