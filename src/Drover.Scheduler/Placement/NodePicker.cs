using Drover.Contracts;
using Drover.Scheduler.Nodes;

namespace Drover.Scheduler.Placement;

/// <summary>
/// The usable nodes with room during one placement pass, least loaded first (running/slots, then running, then
/// name). A job without constraints takes the head of a priority queue in O(log n), so a pass over many jobs and
/// many nodes does not sort every node for every job; a job with constraints scans the nodes it could fit.
/// </summary>
internal sealed class NodePicker
{
    private readonly List<NodeSnapshot> _open;
    private readonly Dictionary<string, int> _load;
    private readonly PriorityQueue<NodeSnapshot, (double Share, int Load, string Name)> _queue = new(KeyComparer.Instance);

    public NodePicker(IEnumerable<NodeSnapshot> usable, Dictionary<string, int> load)
    {
        _load = load;
        _open = usable.Where(HasRoom).ToList();
        foreach (var node in _open)
            _queue.Enqueue(node, Key(node));
    }

    /// <summary>No usable node has a free slot: nothing more can be placed in this pass.</summary>
    public bool Full => _open.Count == 0;

    /// <summary>Free slots over the open nodes; null when one of them does not count slots (it answers 429 when full).</summary>
    public int? FreeSlots => _open.Any(n => n.Slots == 0) ? null : _open.Sum(n => n.Slots - Load(n));

    /// <summary>The least loaded open node the job fits, counted as taken; null when none fits.</summary>
    public NodeSnapshot? Take(JobConstraints? constraints)
    {
        var best = constraints is null || (constraints.Node is null && constraints.Labels.Count == 0)
            ? Head()
            : _open.Where(n => PlacementService.Fits(n, constraints)).MinBy(Key, KeyComparer.Instance);
        if (best is null)
            return null;
        _load[best.Name] = Load(best) + 1;
        if (!HasRoom(best))
            _open.Remove(best);
        return best;
    }

    /// <summary>
    /// The queue's head, after dropping entries made stale by a constrained job taking a slot out of turn: loads only
    /// grow within a pass, so a stale entry sorts too early and is put back at its true place (or dropped when full).
    /// </summary>
    private NodeSnapshot? Head()
    {
        while (_queue.TryPeek(out var node, out var key))
        {
            if (!HasRoom(node))
            {
                _queue.Dequeue();
                continue;
            }
            var current = Key(node);
            if (KeyComparer.Instance.Compare(key, current) != 0)
            {
                _queue.DequeueEnqueue(node, current);
                continue;
            }
            // Taken now: re-queued at its new load (Take drops it from the open list if that filled it).
            _queue.DequeueEnqueue(node, (Share(node, Load(node) + 1), Load(node) + 1, node.Name));
            return node;
        }
        return null;
    }

    private int Load(NodeSnapshot node) => _load.GetValueOrDefault(node.Name);

    private bool HasRoom(NodeSnapshot node) => node.Slots == 0 || Load(node) < node.Slots;

    private (double Share, int Load, string Name) Key(NodeSnapshot node) => (Share(node, Load(node)), Load(node), node.Name);

    private static double Share(NodeSnapshot node, int load) => node.Slots > 0 ? (double)load / node.Slots : load;

    private sealed class KeyComparer : IComparer<(double Share, int Load, string Name)>
    {
        public static readonly KeyComparer Instance = new();

        public int Compare((double Share, int Load, string Name) x, (double Share, int Load, string Name) y)
        {
            var byShare = x.Share.CompareTo(y.Share);
            if (byShare != 0)
                return byShare;
            var byLoad = x.Load.CompareTo(y.Load);
            return byLoad != 0 ? byLoad : string.CompareOrdinal(x.Name, y.Name);
        }
    }
}
