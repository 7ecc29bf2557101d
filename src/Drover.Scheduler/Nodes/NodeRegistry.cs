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

    /// <summary>Placed and running attempts on it, as the store counted them at the last refresh (every scheduler's).</summary>
    public int Active { get; init; }

    public bool Usable(DateTimeOffset now) => !Drained && !Down && (BackoffUntil is null || BackoffUntil <= now);
}

/// <summary>
/// Every node: configured ones and those that registered by heartbeat. What all schedulers must agree on lives in the
/// store (identity, drain, info and slots, the last heartbeat any of them heard, the count of active attempts) and is
/// read again before each placement pass and follow-up tick; what one scheduler learns by calling a node (it answered,
/// it failed, it said 429) is this scheduler's own. A restarted scheduler gives every node one heartbeat timeout to
/// be heard from.
/// </summary>
internal sealed class NodeRegistry(IJobStore store, IOptions<SchedulerOptions> options, TimeProvider time, PlacementSignal placement)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, Entry> _nodes = new(StringComparer.Ordinal);
    private readonly SchedulerOptions _options = options.Value;
    private readonly HashSet<string> _heard = new(StringComparer.Ordinal); // heartbeats not yet written as last_seen
    private long _infoSince = long.MinValue;
    private DateTimeOffset _started;

    public async Task LoadAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        _started = now;
        foreach (var configured in _options.Nodes)
        {
            var row = await store.GetNodeAsync(configured.Name, cancellationToken);
            await store.UpsertNodeAsync(new NodeRow
            {
                Name = configured.Name,
                Uri = configured.Uri,
                Source = "static",
                Info = row?.Info,
                Slots = row?.Slots ?? 0,
                UpdatedAt = Wire.Millis(now),
            }, cancellationToken);
        }
        await RefreshAsync(cancellationToken);
    }

    /// <summary>Reads the nodes again from the store: what other schedulers heard, drained or registered shows here.</summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        long since;
        lock (_lock)
            since = _infoSince;
        var readAt = Wire.Millis(time.GetUtcNow());
        var rows = await store.ListNodesAsync(since, cancellationToken);
        lock (_lock)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            var unread = false;
            foreach (var row in rows)
            {
                names.Add(row.Name);
                if (!_nodes.TryGetValue(row.Name, out var entry) || entry.Source != row.Source)
                {
                    var configured = row.Source == "static" ? _options.Nodes.FirstOrDefault(n => n.Name == row.Name) : null;
                    _nodes[row.Name] = entry = new Entry(row.Name, row.Source, _started)
                    {
                        Token = configured?.Token,
                        Kind = configured?.Kind ?? NodeKind.Processor,
                        ConfiguredLabels = configured?.Labels ?? new Dictionary<string, string>(),
                    };
                    unread |= row.Info is null && row.UpdatedAt < since; // new to this scheduler: its info is read next time
                }
                // A row read before this scheduler's own change committed (a drain just set here) does not undo it.
                if (row.UpdatedAt >= entry.RowUpdatedAt)
                {
                    entry.Uri = Normalize(row.Uri);
                    entry.Drained = row.Drained == 1;
                    entry.RowUpdatedAt = row.UpdatedAt;
                }
                entry.Active = (int)row.Active;
                if (row.LastSeen is { } seen && Wire.Time(seen) > entry.LastSeen)
                    entry.LastSeen = Wire.Time(seen);
                if (row.Info is { } info)
                    entry.Info = JsonSerializer.Deserialize<NodeInfo>(info, DroverJson.Options);
            }
            // A node registered here after the read began is not in it, but is not gone.
            foreach (var gone in _nodes.Values.Where(e => !names.Contains(e.Name) && e.RowUpdatedAt < readAt).Select(e => e.Name).ToList())
                _nodes.Remove(gone);
            // The newest row's info is read again next time, so that a change in the same millisecond is not missed.
            _infoSince = unread ? long.MinValue : rows.Count == 0 ? since : rows.Max(r => r.UpdatedAt);
        }
    }

    /// <summary>Writes the heartbeats heard since the last call as each node's last_seen, in one transaction.</summary>
    public async Task SaveHeardAsync(CancellationToken cancellationToken)
    {
        List<string> heard;
        lock (_lock)
        {
            heard = [.. _heard];
            _heard.Clear();
        }
        await store.SeenNodesAsync(heard, Wire.Millis(time.GetUtcNow()), cancellationToken);
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
    /// A node registers or heartbeats. Persisted only when what it says about itself changed (else only the time it
    /// was heard, written with others' each second). A configured node is never changed by a heartbeat, and a
    /// registered node that is up keeps its address: the scheduler sends a node its jobs' environments and tokens,
    /// so whoever could re-point a live node could collect them. Only a node that is down (not heard from by any
    /// scheduler for the heartbeat timeout) may come back at another address.
    /// </summary>
    public async Task<HeartbeatOutcome> HeartbeatAsync(NodeInfo info, CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var row = await store.GetNodeAsync(info.Name, cancellationToken);
        if (row?.Source == "static")
            return HeartbeatOutcome.Configured;
        bool changed, wake;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(info.Name, out var entry))
                _nodes[info.Name] = entry = new Entry(info.Name, "registered", _started);
            if (row?.LastSeen is { } seen && Wire.Time(seen) > entry.LastSeen)
                entry.LastSeen = Wire.Time(seen);
            var down = row is null || entry.IsDown(now, _options);
            var moved = row is not null && Normalize(row.Uri).ToString() != Normalize(info.Uri).ToString();
            if (moved && !down)
                return HeartbeatOutcome.MovedWhileUp;
            var stored = row?.Info is { } text ? JsonSerializer.Deserialize<NodeInfo>(text, DroverJson.Options) : null;
            wake = stored is null || down || entry.Info?.Running != info.Running;
            entry.Returned(now, _options);
            changed = stored is null || moved
                || JsonSerializer.Serialize(stored with { Running = 0 }, DroverJson.Options) != JsonSerializer.Serialize(info with { Running = 0 }, DroverJson.Options);
            entry.Uri = Normalize(info.Uri);
            entry.Info = info;
            entry.LastSeen = now;
            entry.LastError = null;
            if (changed)
                entry.RowUpdatedAt = Wire.Millis(now); // the row about to be written: a refresh that read before it keeps the entry
            else
                _heard.Add(info.Name);
        }
        if (changed)
        {
            await store.UpsertNodeAsync(new NodeRow
            {
                Name = info.Name,
                Uri = Normalize(info.Uri).ToString(),
                Source = "registered",
                Info = JsonSerializer.Serialize(info, DroverJson.Options),
                UpdatedAt = Wire.Millis(now),
                LastSeen = Wire.Millis(now),
                Slots = info.Slots,
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

    /// <summary>A configured node answered <c>/processor/info</c>; what it says of itself is stored when it changed (its slots bound placement).</summary>
    public async Task RefreshedAsync(string name, NodeInfo info, CancellationToken cancellationToken)
    {
        NodeRow? changed = null;
        lock (_lock)
        {
            if (!_nodes.TryGetValue(name, out var entry))
                return;
            var wake = entry.Info is null || entry.IsDown(time.GetUtcNow(), _options);
            if (entry.Info is null
                || JsonSerializer.Serialize(entry.Info with { Running = 0 }, DroverJson.Options) != JsonSerializer.Serialize(info with { Running = 0 }, DroverJson.Options))
                changed = new NodeRow
                {
                    Name = name,
                    Uri = (entry.Uri ?? new Uri("http://invalid/")).ToString(),
                    Source = entry.Source,
                    Info = JsonSerializer.Serialize(info, DroverJson.Options),
                    UpdatedAt = Wire.Millis(time.GetUtcNow()),
                    Slots = info.Slots,
                };
            entry.Returned(time.GetUtcNow(), _options);
            entry.Info = info;
            entry.LastSeen = time.GetUtcNow();
            entry.LastError = null;
            if (wake)
                placement.Wake();
        }
        if (changed is not null)
            await store.UpsertNodeAsync(changed, cancellationToken);
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
        var now = Wire.Millis(time.GetUtcNow());
        lock (_lock)
        {
            if (!_nodes.TryGetValue(name, out var entry))
                return null;
            entry.Drained = drained;
            entry.RowUpdatedAt = now;
        }
        await store.SetDrainedAsync(name, drained, now, cancellationToken);
        return Find(name);
    }

    private static Uri Normalize(string uri)
    {
        var text = string.IsNullOrEmpty(uri) ? "http://invalid/" : uri;
        return new Uri(text.EndsWith('/') ? text : text + "/");
    }

    private sealed class Entry(string name, string source, DateTimeOffset presumedSeen)
    {
        public string Name { get; } = name;
        public string Source { get; } = source;
        public Uri? Uri { get; set; }
        public string? Token { get; init; }
        public NodeKind Kind { get; init; }
        public IReadOnlyDictionary<string, string> ConfiguredLabels { get; init; } = new Dictionary<string, string>();
        public NodeInfo? Info { get; set; }
        public bool Drained { get; set; }
        public string? LastError { get; set; }
        /// <summary>Heard by any scheduler (the store's last_seen) or answered this one; a node loaded at start is presumed seen then.</summary>
        public DateTimeOffset LastSeen { get; set; } = presumedSeen;
        public DateTimeOffset? BackoffUntil { get; set; }

        /// <summary>Placed and running attempts, as the store counted them at the last refresh.</summary>
        public int Active { get; set; }

        /// <summary>The <c>updated_at</c> of the row its address and drain were last taken from (or set here).</summary>
        public long RowUpdatedAt { get; set; } = long.MinValue;

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
                Name, new NodeTarget(Name, Uri ?? new Uri("http://invalid/"), string.IsNullOrEmpty(Token) ? options.NodeToken : Token, Kind),
                Source, Info, labels, Drained, IsDown(now, options), LastSeen, BackoffUntil > now ? BackoffUntil : null, LastError)
            {
                Active = Active,
            };
        }
    }
}
