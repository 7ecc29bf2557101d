using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Drover.Gateway.Proxy;

/// <summary>Where a node answers the node protocol; null for a node that has none (an ECS cluster, <c>backend=ecs</c>).</summary>
internal sealed record NodeLocation(string? Address, string? Backend);

/// <summary>
/// Node name to address, as the scheduler's <c>GET /scheduler/nodes</c> says, kept for <c>NodeCacheTtl</c>. A name
/// not in the map triggers an early re-read (at most once a second), so a node that just registered is found.
/// </summary>
internal sealed class NodeDirectory(IHttpClientFactory clients, IOptions<GatewayOptions> options, TimeProvider time, ILogger<NodeDirectory> logger) : IDisposable
{
    public const string SchedulerClient = "scheduler";
    private static readonly TimeSpan MinimumRefresh = TimeSpan.FromSeconds(1);

    private readonly SemaphoreSlim _refresh = new(1, 1);
    private Snapshot? _snapshot;

    /// <summary>The node's location, or null when the scheduler knows no node by that name.</summary>
    /// <exception cref="HttpRequestException">No scheduler answered.</exception>
    public async Task<NodeLocation?> FindAsync(string name, CancellationToken cancellationToken)
    {
        var snapshot = Volatile.Read(ref _snapshot);
        if (snapshot is null || IsOlderThan(snapshot, options.Value.NodeCacheTtl)
            || (!snapshot.Nodes.ContainsKey(name) && IsOlderThan(snapshot, MinimumRefresh)))
        {
            snapshot = await RefreshAsync(snapshot, cancellationToken);
        }
        return snapshot.Nodes.GetValueOrDefault(name);
    }

    private bool IsOlderThan(Snapshot snapshot, TimeSpan age) => time.GetUtcNow() - snapshot.ReadAt > age;

    private async Task<Snapshot> RefreshAsync(Snapshot? seen, CancellationToken cancellationToken)
    {
        // One caller reads the list while the others wait for it, so a burst of requests makes one call upstream.
        await _refresh.WaitAsync(cancellationToken);
        try
        {
            var current = Volatile.Read(ref _snapshot);
            if (current is not null && !ReferenceEquals(current, seen))
                return current;
            var fresh = new Snapshot(await ReadAsync(cancellationToken), time.GetUtcNow());
            Volatile.Write(ref _snapshot, fresh);
            return fresh;
        }
        finally
        {
            _refresh.Release();
        }
    }

    private async Task<Dictionary<string, NodeLocation>> ReadAsync(CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(SchedulerClient);
        HttpRequestException? last = null;
        foreach (var scheduler in options.Value.SchedulerUrls)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(scheduler), "/scheduler/nodes"));
                if (options.Value.SchedulerToken is { Length: > 0 } token)
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                using var response = await client.SendAsync(request, cancellationToken);
                response.EnsureSuccessStatusCode();
                await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
                using var document = await JsonDocument.ParseAsync(body, cancellationToken: cancellationToken);
                return Parse(document.RootElement);
            }
            catch (Exception e) when (e is HttpRequestException or JsonException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Cannot read the node list from {Scheduler}: {Error}", scheduler, e.Message);
                last = e as HttpRequestException ?? new HttpRequestException(e.Message, e);
            }
        }
        throw last ?? new HttpRequestException("No scheduler is configured.");
    }

    private static Dictionary<string, NodeLocation> Parse(JsonElement root)
    {
        var nodes = new Dictionary<string, NodeLocation>(StringComparer.Ordinal);
        if (!root.TryGetProperty("nodes", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new JsonException("the scheduler's node list has no \"nodes\" array");
        foreach (var node in list.EnumerateArray())
        {
            // An ECS node's uri is AWS's endpoint: nothing there speaks the node protocol, and no token may go there.
            if (node.ValueKind == JsonValueKind.Object
                && node.TryGetProperty("name", out var ecsName) && ecsName.ValueKind == JsonValueKind.String
                && node.TryGetProperty("labels", out var labels) && labels.ValueKind == JsonValueKind.Object
                && labels.TryGetProperty("backend", out var backend) && backend.ValueKind == JsonValueKind.String
                && backend.GetString() == "ecs")
            {
                nodes[ecsName.GetString()!] = new NodeLocation(null, "ecs");
                continue;
            }
            if (node.ValueKind == JsonValueKind.Object
                && node.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String
                && node.TryGetProperty("uri", out var uri) && uri.ValueKind == JsonValueKind.String
                && Uri.TryCreate(uri.GetString(), UriKind.Absolute, out var address)
                && (address.Scheme == Uri.UriSchemeHttp || address.Scheme == Uri.UriSchemeHttps))
            {
                nodes[name.GetString()!] = new NodeLocation(address.ToString(), null);
            }
        }
        return nodes;
    }

    public void Dispose() => _refresh.Dispose();

    private sealed record Snapshot(Dictionary<string, NodeLocation> Nodes, DateTimeOffset ReadAt);
}
