using Drover.Contracts;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Following;

/// <summary>
/// Keeps the store in step with the nodes: pushed reports (the fast path), the batched poll (the path that is always
/// right), timeouts, kills sent to nodes, and lost nodes.
/// </summary>
internal sealed partial class Follower(
    IJobStore store, INodeBackend backend, NodeRegistry nodes, Starter starter, NodeReports reportsOfNodes,
    IOptions<SchedulerOptions> options, TimeProvider time, SchedulerMetrics metrics, ILogger<Follower> logger)
{
    private readonly SchedulerOptions _options = options.Value;

    /// <summary>
    /// A node pushed state changes (<c>POST /scheduler/nodes/{name}/jobs</c>). A push that names an attempt placed
    /// on another node changes nothing: the request ids of that push are returned, for a 403.
    /// </summary>
    public async Task<IReadOnlyList<string>> PushedAsync(string node, NodeJobList list, CancellationToken cancellationToken)
    {
        var jobIds = list.Jobs.Select(s => AttemptRef.Parse(s.RequestId)?.JobId).OfType<long>().Distinct().ToList();
        var attempts = await store.ListActiveAttemptsOfJobsAsync(jobIds, cancellationToken);
        var pushed = list.Jobs.Select(s => s.RequestId).ToHashSet(StringComparer.Ordinal);
        var foreign = attempts.Where(a => a.Node != node && pushed.Contains(a.BackendRef)).Select(a => a.BackendRef).ToList();
        if (foreign.Count > 0)
            return foreign;
        nodes.Seen(node);
        var active = attempts.Where(a => a.Node == node).ToDictionary(a => a.BackendRef, StringComparer.Ordinal);
        var reports = list.Jobs
            .Where(s => active.ContainsKey(s.RequestId))
            .Select(s => (active[s.RequestId], s))
            .ToList();
        await ApplyAsync(reports, [], cancellationToken);
        return [];
    }

    /// <summary>Asks every node with placed or running attempts about all of them, one call per node.</summary>
    public async Task PollAsync(CancellationToken cancellationToken)
    {
        // Only the attempts this scheduler owns: each active attempt has one follower (see IJobStore.TakeOverAsync).
        var active = await store.ListActiveAttemptsAsync(null, mine: true, cancellationToken);
        var byNode = active.GroupBy(a => a.Node, StringComparer.Ordinal).ToList();
        await Parallel.ForEachAsync(byNode, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken },
            async (group, token) =>
            {
                try
                {
                    await PollNodeAsync(group.Key, group.ToList(), token);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    LogPollFailed(e, group.Key);
                }
            });
    }

    /// <summary>
    /// Fencing: attempts recorded lost with a node that answers again may still run there, beside the attempt that took
    /// their place. Ask the node about each one lost recently and kill those it still runs, before they can finish there.
    /// Also done once per node after this scheduler starts (what an earlier one declared lost).
    /// </summary>
    public async Task FenceAsync(CancellationToken cancellationToken)
    {
        var since = Wire.Millis(time.GetUtcNow() - FenceWindow);
        foreach (var node in nodes.TakeFenceDue())
        {
            try
            {
                var lost = await store.ListLostAttemptsAsync(node.Name, since, cancellationToken);
                var killed = 0;
                foreach (var batch in lost.Chunk(100))
                {
                    foreach (var status in await backend.GetStatusAsync(node.Target, batch, cancellationToken))
                    {
                        if (status.State == JobState.Stopped)
                            continue;
                        await backend.KillAsync(node.Target, batch.First(a => a.RequestId == status.RequestId), cancellationToken);
                        killed++;
                    }
                }
                if (killed > 0)
                    LogFenced(node.Name, killed);
            }
            catch (NodeUnreachableException e)
            {
                nodes.FenceFailed(node.Name);
                nodes.Failed(node.Name, e.Message);
            }
        }
    }

    /// <summary>This scheduler follows the attempt.</summary>
    private bool Mine(ActiveAttempt attempt) => attempt.Owner == store.Instance;

    /// <summary>How far back attempts recorded lost are fenced when their node returns.</summary>
    private static readonly TimeSpan FenceWindow = TimeSpan.FromDays(1);

    /// <summary>Asks the node about one job now (<c>POST /scheduler/jobs/{id}/update</c>).</summary>
    public async Task RefreshAsync(JobRow job, CancellationToken cancellationToken)
    {
        if (job.Node is not { } node || job.State is not (JobState.Placed or JobState.Running))
            return;
        var attempts = (await store.ListActiveAttemptsOfJobsAsync([job.Id], cancellationToken)).ToList();
        if (attempts.Count > 0)
            await PollNodeAsync(node, attempts, cancellationToken);
    }

    /// <summary>
    /// Sends the kill of an attempt whose stop is recorded (<see cref="IJobStore.RequestStopAsync"/>). False when it
    /// cannot be sent yet: a start being sent (here, or by the scheduler that owns the attempt) may land after a kill,
    /// so the owner's next poll kills it once the start has landed.
    /// </summary>
    public async Task<bool> StopOnNodeAsync(ActiveAttempt attempt, CancellationToken cancellationToken)
    {
        if (attempt.State == JobState.Placed && (starter.InFlight(attempt.JobId) || !Mine(attempt)))
            return false;
        await KillOnNodeAsync(attempt, cancellationToken);
        return true;
    }

    private async Task PollNodeAsync(string name, List<ActiveAttempt> attempts, CancellationToken cancellationToken)
    {
        // A start being sent right now is the placement loop's business; asking about it could race it.
        var tracked = attempts.Where(a => !(a.State == JobState.Placed && starter.InFlight(a.JobId))).ToList();
        if (tracked.Count == 0)
            return;
        var node = nodes.Find(name);
        IReadOnlyList<NodeJobStatus> statuses;
        try
        {
            if (node is null)
                throw new NodeUnreachableException($"node {name} is not known");
            var asked = tracked.Select(a => new NodeAttempt(a.BackendRef, a.NodeRef)).ToList();
            statuses = await backend.GetStatusAsync(node.Target, asked, cancellationToken);
            nodes.Seen(name);
            await SaveLearntRefsAsync(tracked, asked, cancellationToken);
        }
        catch (NodeUnreachableException e)
        {
            nodes.Failed(name, e.Message);
            // Lost only when the node is down (no heartbeat, no answer for the whole timeout) AND this call could not
            // reach it: before that the attempt may still be running there, and a second run must never start.
            if (node is null || nodes.Find(name)?.Down != false)
            {
                LogNodeLost(name, tracked.Count, e.Message);
                await ApplyAsync([], tracked.Where(Mine).ToList(), cancellationToken);
            }
            return;
        }

        var byRef = statuses.ToDictionary(s => s.RequestId, StringComparer.Ordinal);
        var reports = new List<(ActiveAttempt, NodeJobStatus)>();
        var vanished = new List<ActiveAttempt>();
        var orphans = new List<ActiveAttempt>();
        var toKill = new List<ActiveAttempt>();
        var clock = time.GetUtcNow();
        foreach (var attempt in tracked)
        {
            if (byRef.TryGetValue(attempt.BackendRef, out var status))
            {
                reports.Add((attempt, status));
                if (status.State != JobState.Stopped && Mine(attempt) && await ShouldKillAsync(attempt, status, clock, cancellationToken))
                    toKill.Add(attempt);
            }
            // What the node does not know of another scheduler's attempt is that scheduler's to decide.
            else if (Mine(attempt))
            {
                (attempt.State == JobState.Placed ? orphans : vanished).Add(attempt);
            }
        }
        await ApplyAsync(reports, vanished, cancellationToken);
        foreach (var attempt in toKill)
            await KillOnNodeAsync(attempt, cancellationToken);
        if (orphans.Count > 0)
            await ResendAsync(orphans, cancellationToken);
    }

    /// <summary>Past its timeout (counted here too, from the start the node reports), or a user asked to stop it.</summary>
    private async Task<bool> ShouldKillAsync(ActiveAttempt attempt, NodeJobStatus status, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (attempt.JobStopRequest is not null || attempt.StopRequest is not null)
            return true;
        if (attempt.TimeoutMs is not { } timeout || status.State != JobState.Running)
            return false;
        var started = status.StartedAt ?? Wire.Time(attempt.PlacedAt);
        // The node enforces the timeout itself; the scheduler steps in a poll later if it did not.
        if (now - started <= TimeSpan.FromMilliseconds(timeout) + _options.PollInterval)
            return false;
        if (await store.RequestAttemptStopAsync(attempt.JobId, (int)attempt.Number, Wire.Word(StopReason.TimedOut), cancellationToken))
            attempt.StopRequest = Wire.Word(StopReason.TimedOut);
        return true;
    }

    private async Task KillOnNodeAsync(ActiveAttempt attempt, CancellationToken cancellationToken)
    {
        var node = nodes.Find(attempt.Node);
        if (node is null)
            return;
        attempt.StopRequest ??= attempt.JobStopRequest ?? Wire.Word(StopReason.Killed);
        attempt.JobStopRequest ??= await JobStopAsync(attempt, cancellationToken);
        try
        {
            var status = await backend.KillAsync(node.Target, new NodeAttempt(attempt.BackendRef, attempt.NodeRef), cancellationToken);
            nodes.Seen(attempt.Node);
            // A node that never recorded the start has nothing to kill: the attempt ends here.
            status ??= new NodeJobStatus { RequestId = attempt.BackendRef, State = JobState.Stopped, Status = JobStatus.Error, Reason = StopReason.Killed };
            await ApplyAsync([(attempt, status)], [], cancellationToken);
        }
        catch (NodeUnreachableException e)
        {
            nodes.Failed(attempt.Node, e.Message);
            LogKillFailed(attempt.BackendRef, attempt.Node, e.Message);
        }
    }

    private async Task<string?> JobStopAsync(ActiveAttempt attempt, CancellationToken cancellationToken) =>
        (await store.GetJobAsync(attempt.JobId, cancellationToken))?.StopRequest;

    /// <summary>
    /// Placed, not being sent, and unknown to the node: the start may have been lost with a crash. Sending the
    /// same start again is safe, since the node keys it on the attempt's request id.
    /// </summary>
    private async Task ResendAsync(List<ActiveAttempt> orphans, CancellationToken cancellationToken)
    {
        var mine = orphans.Where(a => starter.Reserve(a.JobId)).ToList();
        try
        {
            await starter.StartAllAsync(mine, cancellationToken);
        }
        finally
        {
            foreach (var attempt in mine)
                starter.Release(attempt.JobId);
        }
    }

    private async Task ApplyAsync(IReadOnlyList<(ActiveAttempt Attempt, NodeJobStatus Status)> reports, IReadOnlyList<ActiveAttempt> vanished, CancellationToken cancellationToken)
    {
        // A node that answers but no longer knows a running attempt has lost its state: the attempt is lost.
        var now = time.GetUtcNow();
        var lost = vanished.Select(a => Lifecycle.Lost(a, now, _options) with { Owner = store.Instance }).ToList();
        if (reports.Count == 0 && lost.Count == 0)
            return;
        var applied = await reportsOfNodes.ApplyAsync(reports, lost, cancellationToken);
        metrics.Applied(applied, reports.Select(r => r.Attempt).Concat(vanished));
    }

    /// <summary>Node references the backend had to look up (a start whose answer was lost) are saved for the next restart and for logs.</summary>
    private async Task SaveLearntRefsAsync(List<ActiveAttempt> tracked, List<NodeAttempt> asked, CancellationToken cancellationToken)
    {
        var learnt = tracked.Zip(asked)
            .Where(p => p.First.NodeRef is null && p.Second.NodeRef is not null)
            .Select(p => new NodeRefRecord(p.First.JobId, (int)p.First.Number, p.Second.NodeRef!))
            .ToList();
        if (learnt.Count > 0)
            await store.ApplyAsync([], Wire.Millis(time.GetUtcNow()), cancellationToken, learnt);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node} is back and still ran {Count} attempts recorded lost: killed them")]
    private partial void LogFenced(string node, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Polling node {Node} failed")]
    private partial void LogPollFailed(Exception error, string node);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Node {Node} is down and cannot be reached ({Detail}): {Count} attempts are lost and go back to the queue")]
    private partial void LogNodeLost(string node, int count, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Killing {BackendRef} on {Node} failed: {Detail}")]
    private partial void LogKillFailed(string backendRef, string node, string detail);
}
