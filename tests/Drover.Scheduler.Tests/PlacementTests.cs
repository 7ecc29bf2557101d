using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Placement honours node names, labels and free slots, over real Processors.</summary>
public class PlacementTests() : ClusterTest(processors: 0)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.AddNodeAsync("small", slots: 1, "--Processor:Labels:size=small");
        await Cluster.AddNodeAsync("gpu", slots: 4, "--Processor:Labels:gpu=true");
    }

    [Fact]
    public async Task Jobs_go_to_the_named_node_and_to_nodes_with_the_labels()
    {
        var named = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], Constraints = new JobConstraints { Node = "small" } });
        var labelled = await Cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromArgv("true")],
            Constraints = new JobConstraints { Labels = new Dictionary<string, string> { ["gpu"] = "true" } },
        });
        Assert.Equal("small", (await Cluster.WaitStoppedAsync(named)).Node);
        Assert.Equal("gpu", (await Cluster.WaitStoppedAsync(labelled)).Node);
    }

    [Fact]
    public async Task A_node_never_runs_more_jobs_than_its_slots_and_the_rest_wait_their_turn()
    {
        var marker = Path.Combine(Cluster.Directory, "overlap");
        // Each job notes when it runs alongside another on the one-slot node.
        var script = $"if [ -e {marker}.busy ]; then touch {marker}; fi; touch {marker}.busy; sleep 0.5; rm -f {marker}.busy";
        var ids = new List<long>();
        for (var i = 0; i < 3; i++)
            ids.Add(await Cluster.SubmitAsync(new JobSpec
            {
                Commands = [CommandSpec.FromShell(script)],
                Constraints = new JobConstraints { Node = "small" },
                MaxAttempts = 1,
            }));

        // While the first runs, the others are queued with the reason.
        await Cluster.Eventually(async () => (await Cluster.QueueEntryAsync(ids[2])).Reason == "every node that fits is busy (all slots taken)",
            30, "the third job to wait for a slot");
        foreach (var id in ids)
            Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
        Assert.False(File.Exists(marker), "two jobs ran at once on a node with one slot");
        var records = await Task.WhenAll(ids.Select(Cluster.JobAsync));
        Assert.All(records, r => Assert.Equal("small", Assert.Single(r.Attempts).Node));
    }

    [Fact]
    public async Task Higher_priority_goes_first()
    {
        // Hold the one-slot node, then queue a low and a high priority job behind it.
        var blocker = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sleep", "1")], Constraints = new JobConstraints { Node = "small" } });
        await Cluster.WaitForAsync(blocker, s => s.State == JobState.Running);
        var low = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], Constraints = new JobConstraints { Node = "small" } });
        var high = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], Constraints = new JobConstraints { Node = "small" }, Priority = 10 });
        await Cluster.WaitStoppedAsync(low);
        var lowRecord = await Cluster.JobAsync(low);
        var highRecord = await Cluster.JobAsync(high);
        Assert.True(highRecord.Attempts[0].PlacedAt <= lowRecord.Attempts[0].PlacedAt);
    }
}
