using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Nodes;

/// <summary>What came of a heartbeat.</summary>
internal enum HeartbeatOutcome
{
    Accepted,

    /// <summary>The name is a configured node's: heartbeats do not change it.</summary>
    Configured,

    /// <summary>The node is up at another address: it may move only once it is down.</summary>
    MovedWhileUp,
}

/// <summary>A node as placement sees it at one moment.</summary>
internal sealed record NodeSnapshot(
    string Name, NodeTarget Target, string Source, NodeInfo? Info, IReadOnlyDictionary<string, string> Labels,
    bool Drained, bool Down, DateTimeOffset LastSeen, DateTimeOffset? BackoffUntil, string? LastError)
{
    /// <summary>0 when the node does not announce slots: it takes what it takes and answers 429 when full.</summary>
    public int Slots => Info?.Slots ?? 0;

    public bool Usable(DateTimeOffset now) => !Drained && !Down && (BackoffUntil is null || BackoffUntil <= now);
}

/// <summary>
/// Every node the scheduler knows: configured ones and those that registered by heartbeat. Health is kept in memory
/// (a restarted scheduler gives every node one heartbeat timeout to be heard from); identity and drain live in the store.
/// </summary>
internal sealed class NodeRegistry(IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time, PlacementSignal placement)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _nodes = new(StringComparer.Ordinal);
    private readonly SchedulerOptions _options = options.Value;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var stored = (await store.ListNodesAsync(cancellationToken)).ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var configured in _options.Nodes)
        {
            stored.TryGetValue(configured.Name, out var row);
            await store.UpsertNodeAsync(new NodeRow
            {
                Name = configured.Name,
                Uri = configured.Uri,
                Source = "static",
                Info = row?.Info,
                UpdatedAt = Wire.Millis(now),
            }, cancellationToken);
            lock (_lock)
                _nodes[configured.Name] = new Entry(configured.Name, "static")
                {
                    Uri = Normalize(configured.Uri),
                    Token = configured.Token,
                    ConfiguredLabels = configured.Labels,
                    Info = row?.Info is { } info ? JsonSerializer.Deserialize<NodeInfo>(info, DroverJson.Options) : null,
                    Drained = row?.Drained == 1,
                    LastSeen = now,
                };
        }
        foreach (var row in stored.Values.Where(r => r.Source == "registered"))
        {
            lock (_lock)
                _nodes.TryAdd(row.Name, new Entry(row.Name, "registered")
                {
                    Uri = Normalize(row.Uri),
                    Info = row.Info is { } info ? JsonSerializer.Deserialize<NodeInfo>(info, DroverJson.Options) : null,
                    Drained = row.Drained == 1,
                    LastSeen = now,
                });
        }
    }

    public IReadOnlyList<NodeSnapshot> Snapshot()
    {
        var now = time.GetUtcNow();
        lock (_lock)
            return _nodes.Values.OrderBy(e => e.Name, StringComparer.Ordinal).Select(e => e.ToSnapshot(now, _options)).ToList();
    }

    public NodeSnapshot? Find(string name)
    {
        lock (_lock)
            return _nodes.TryGetValue(name, out var entry) ? entry.ToSnapshot(time.GetUtcNow(), _options) : null;
    }

    /// <summary>
    /// A node registers or heartbeats. Persisted only when what it says about itself changed. A configured node is
    /// never changed by a heartbeat, and a registered node that is up keeps its address: the scheduler sends a node
    /// its jobs' environments and tokens, so whoever could re-point a live node could collect them. Only a node that
    /// is down (not heard from for the heartbeat timeout) may come back at another address.
    /// </summary>
    public async Task<HeartbeatOutcome> HeartbeatAsync(NodeInfo info, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        bool changed, wake;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(info.Name, out var entry))
                _nodes[info.Name] = entry = new Entry(info.Name, "registered");
            if (entry.Source == "static")
                return HeartbeatOutcome.Configured;
            var moved = entry.Uri is not null && entry.Uri.ToString() != Normalize(info.Uri).ToString();
            if (moved && !entry.IsDown(now, _options))
                return HeartbeatOutcome.MovedWhileUp;
            wake = entry.Info is null || entry.IsDown(now, _options) || entry.Info.Running != info.Running;
            entry.Returned(now, _options);
            changed = entry.Info is null || moved
                || JsonSerializer.Serialize(entry.Info with { Running = 0 }, DroverJson.Options) != JsonSerializer.Serialize(info with { Running = 0 }, DroverJson.Options);
            entry.Uri = Normalize(info.Uri);
            entry.Info = info;
            entry.LastSeen = now;
            entry.LastError = null;
        }
        if (changed)
        {
            var snapshot = Find(info.Name)!;
            await store.UpsertNodeAsync(new NodeRow
            {
                Name = info.Name,
                Uri = snapshot.Target.Uri.ToString(),
                Source = snapshot.Source,
                Info = JsonSerializer.Serialize(info, DroverJson.Options),
                UpdatedAt = Wire.Millis(now),
            }, cancellationToken);
        }
        if (wake || changed)
            placement.Wake();
        return HeartbeatOutcome.Accepted;
    }

    /// <summary>
    /// Forgets registered nodes not heard from for <see cref="SchedulerOptions.NodeExpiry"/> that have no placed or
    /// running attempt (<paramref name="busy"/>): a name that comes back registers anew. Returns the names removed.
    /// </summary>
    public async Task<IReadOnlyList<string>> ExpireAsync(IReadOnlySet<string> busy, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        List<string> expired;
        lock (_lock)
        {
            expired = _nodes.Values
                .Where(e => e.Source == "registered" && now - e.LastSeen > _options.NodeExpiry && !busy.Contains(e.Name))
                .Select(e => e.Name)
                .ToList();
            foreach (var name in expired)
                _nodes.Remove(name);
        }
        foreach (var name in expired)
            await store.DeleteNodeAsync(name, cancellationToken);
        return expired;
    }

    /// <summary>A configured node answered <c>/processor/info</c>.</summary>
    public void Refreshed(string name, NodeInfo info)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(name, out var entry))
            {
                var wake = entry.Info is null || entry.IsDown(time.GetUtcNow(), _options);
                entry.Returned(time.GetUtcNow(), _options);
                entry.Info = info;
                entry.LastSeen = time.GetUtcNow();
                entry.LastError = null;
                if (wake)
                    placement.Wake();
            }
        }
    }

    /// <summary>The node answered a call: it is alive.</summary>
    public void Seen(string name)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(name, out var entry))
            {
                entry.Returned(time.GetUtcNow(), _options);
                entry.LastSeen = time.GetUtcNow();
                entry.LastError = null;
            }
        }
    }

    /// <summary>
    /// Nodes that answer again after being down, or that this scheduler has not fenced since it started: whatever was
    /// recorded lost there may still run and must be killed. Each name is handed out once; <see cref="FenceFailed"/> puts it back.
    /// </summary>
    public IReadOnlyList<NodeSnapshot> TakeFenceDue()
    {
        var now = time.GetUtcNow();
        lock (_lock)
        {
            var due = _nodes.Values.Where(e => e.FenceDue && e.Heard && !e.IsDown(now, _options)).ToList();
            foreach (var entry in due)
                entry.FenceDue = false;
            return due.Select(e => e.ToSnapshot(now, _options)).ToList();
        }
    }

    public void FenceFailed(string name)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(name, out var entry))
                entry.FenceDue = true;
        }
    }

    /// <summary>A call to the node failed; the error is shown with the node until it answers again.</summary>
    public void Failed(string name, string? detail)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(name, out var entry))
                entry.LastError = detail ?? "the call failed";
        }
    }

    /// <summary>The node answered 429 or failed a start: no new job goes there for a while.</summary>
    public void BackOff(string name)
    {
        lock (_lock)
        {
            if (_nodes.TryGetValue(name, out var entry))
                entry.BackoffUntil = time.GetUtcNow() + _options.NodeBackoff;
        }
    }

    public async Task<NodeSnapshot?> SetDrainedAsync(string name, bool drained, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(name, out var entry))
                return null;
            entry.Drained = drained;
        }
        await store.SetDrainedAsync(name, drained, Wire.Millis(time.GetUtcNow()), cancellationToken);
        if (!drained)
            placement.Wake();
        return Find(name);
    }

    private static Uri Normalize(string uri)
    {
        var text = string.IsNullOrEmpty(uri) ? "http://invalid/" : uri;
        return new Uri(text.EndsWith('/') ? text : text + "/");
    }

    private sealed class Entry(string name, string source)
    {
        public string Name { get; } = name;
        public string Source { get; } = source;
        public Uri? Uri { get; set; }
        public string? Token { get; init; }
        public IReadOnlyDictionary<string, string> ConfiguredLabels { get; init; } = new Dictionary<string, string>();
        public NodeInfo? Info { get; set; }
        public bool Drained { get; set; }
        public string? LastError { get; set; }
        public DateTimeOffset LastSeen { get; set; }
        public DateTimeOffset? BackoffUntil { get; set; }

        /// <summary>Set while what was lost on the node has not been killed there since it was last heard from again.</summary>
        public bool FenceDue { get; set; } = true;

        /// <summary>Heard from: if it was down, its lost attempts are to be fenced.</summary>
        public void Returned(DateTimeOffset now, SchedulerOptions options)
        {
            if (IsDown(now, options))
                FenceDue = true;
            Heard = true;
        }

        /// <summary>Answered or heartbeat since this scheduler started (a node loaded from the store is only presumed up).</summary>
        public bool Heard { get; private set; }

        /// <summary>Not heard from within the heartbeat timeout (for a configured node: not answered).</summary>
        public bool IsDown(DateTimeOffset now, SchedulerOptions options) => now - LastSeen > options.HeartbeatTimeout;

        public NodeSnapshot ToSnapshot(DateTimeOffset now, SchedulerOptions options)
        {
            var labels = new Dictionary<string, string>(Info?.Labels ?? new Dictionary<string, string>(), StringComparer.Ordinal);
            foreach (var (key, value) in ConfiguredLabels)
                labels[key] = value;
            return new NodeSnapshot(
                Name, new NodeTarget(Name, Uri ?? new Uri("http://invalid/"), string.IsNullOrEmpty(Token) ? options.NodeToken : Token),
                Source, Info, labels, Drained, IsDown(now, options), LastSeen, BackoffUntil > now ? BackoffUntil : null, LastError);
        }
    }
}
