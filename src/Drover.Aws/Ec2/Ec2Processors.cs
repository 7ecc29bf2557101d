namespace Drover.Aws.Ec2;

public enum DiscoveredState
{
    /// <summary>Running and tagged: jobs may be placed on it.</summary>
    Active,

    /// <summary>Gone from the listing: no new jobs; jobs already there are followed while it still answers.</summary>
    Draining,
}

public enum DiscoveryChangeKind
{
    Added,
    Updated,
    Draining,
    Returned,
    Removed,
}

public sealed record DiscoveredNode(DiscoveredProcessor Processor, DiscoveredState State, DateTimeOffset Since);

public sealed record DiscoveryChange(DiscoveryChangeKind Kind, DiscoveredNode Node);

/// <summary>
/// Tells the directory whether a node still has jobs, so a vanished instance is drained rather than dropped
/// under them. The scheduler registers one; without it a drained node is dropped at the refresh after.
/// </summary>
public interface IDiscoveredNodeUsage
{
    ValueTask<bool> HasJobsAsync(string nodeName, CancellationToken cancellationToken);
}

/// <summary>
/// The Processors found on EC2 and what changed at each refresh, for the scheduler to consume: as a list
/// (<see cref="Nodes"/>) or as events (<see cref="Changed"/>, raised after each refresh, in order).
/// </summary>
public sealed class Ec2Processors(TimeProvider time, IDiscoveredNodeUsage? usage = null)
{
    private readonly Lock _lock = new();
    private Dictionary<string, DiscoveredNode> _nodes = new(StringComparer.Ordinal);

    public event Action<DiscoveryChange>? Changed;

    public IReadOnlyList<DiscoveredNode> Nodes
    {
        get
        {
            lock (_lock)
                return [.. _nodes.Values];
        }
    }

    public DateTimeOffset? LastRefresh { get; private set; }
    public string? LastError { get; private set; }

    /// <summary>Takes one complete listing and answers what changed; a failed listing changes nothing (see <see cref="Failed"/>).</summary>
    public async Task<IReadOnlyList<DiscoveryChange>> ApplyAsync(IReadOnlyList<DiscoveredProcessor> listing, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listing);
        // Asked before taking the lock: a node still busy now stays draining until a later refresh finds it idle.
        var busy = new HashSet<string>(StringComparer.Ordinal);
        var seenNames = listing.Select(l => l.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var draining in Nodes.Where(n => n.State == DiscoveredState.Draining && !seenNames.Contains(n.Processor.Name)))
        {
            if (usage is not null && await usage.HasJobsAsync(draining.Processor.Name, cancellationToken))
                busy.Add(draining.Processor.Name);
        }
        var now = time.GetUtcNow();
        var changes = new List<DiscoveryChange>();
        lock (_lock)
        {
            var next = new Dictionary<string, DiscoveredNode>(StringComparer.Ordinal);
            foreach (var seen in listing)
            {
                if (!_nodes.TryGetValue(seen.Name, out var known))
                    Add(DiscoveryChangeKind.Added, new DiscoveredNode(seen, DiscoveredState.Active, now));
                else if (known.State == DiscoveredState.Draining)
                    Add(DiscoveryChangeKind.Returned, new DiscoveredNode(seen, DiscoveredState.Active, now));
                else if (!known.Processor.SameAs(seen))
                    Add(DiscoveryChangeKind.Updated, known with { Processor = seen });
                else
                    next[seen.Name] = known;
            }
            foreach (var (name, known) in _nodes)
            {
                if (next.ContainsKey(name))
                    continue;
                if (known.State == DiscoveredState.Active)
                    Add(DiscoveryChangeKind.Draining, known with { State = DiscoveredState.Draining, Since = now });
                else if (busy.Contains(name))
                    next[name] = known;
                else
                    changes.Add(new DiscoveryChange(DiscoveryChangeKind.Removed, known));
            }
            _nodes = next;
            LastRefresh = now;
            LastError = null;

            void Add(DiscoveryChangeKind kind, DiscoveredNode node)
            {
                next[node.Processor.Name] = node;
                changes.Add(new DiscoveryChange(kind, node));
            }
        }
        foreach (var change in changes)
            Changed?.Invoke(change);
        return changes;
    }

    /// <summary>A listing that failed keeps every node as it was: an API error is not a fleet that vanished.</summary>
    public void Failed(string error) => LastError = error;
}
