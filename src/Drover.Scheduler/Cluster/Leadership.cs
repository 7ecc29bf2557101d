namespace Drover.Scheduler.Cluster;

/// <summary>
/// Whether this scheduler holds the maintenance lease: work that must run once however many schedulers share the
/// database (event pruning, node expiry, EC2 discovery's registrations and drains) runs only while it does.
/// </summary>
internal sealed class Leadership
{
    private volatile bool _leader;

    public bool IsLeader => _leader;

    public void Set(bool leader) => _leader = leader;
}
