using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Nodes register and heartbeat; a lost node's attempts go elsewhere; a drained node takes no new jobs.</summary>
public class NodeTests() : ClusterTest(processors: 2)
{
    [Fact]
    public async Task A_lost_node_is_marked_down_and_its_running_job_is_placed_again_elsewhere()
    {
        var marker = Path.Combine(Cluster.Directory, "runs");
        // The first attempt hangs; the second (on the other node) finishes. max_attempts 1: a lost node is not the job's fault.
        var id = await Cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromShell($"echo $DROVER_ATTEMPT >> {marker}; if [ \"$DROVER_ATTEMPT\" = 1 ]; then exec sleep 60; fi")],
            MaxAttempts = 1,
        });
        var running = await Cluster.WaitForAsync(id, s => s.State == JobState.Running);
        var lost = Cluster.Nodes.Single(n => n.Name == running.Node);
        await lost.StopAsync();

        await Cluster.Eventually(async () => (await Cluster.NodesAsync()).Single(n => n.Name == lost.Name).Health == NodeHealth.Down, 30, "the node to be marked down");
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal(JobStatus.Good, status.Status);
        var record = await Cluster.JobAsync(id);
        Assert.Equal(2, record.Attempts.Count);
        Assert.Equal((lost.Name, StopReason.NodeLost), (record.Attempts[0].Node, record.Attempts[0].Reason));
        Assert.NotEqual(lost.Name, record.Attempts[1].Node);
        Assert.DoesNotContain(await Cluster.NodesAsync("/scheduler/nodes/available"), n => n.Name == lost.Name);
        Assert.NotNull((await Cluster.NodesAsync()).Single(n => n.Name == lost.Name).LastError);
    }

    [Fact]
    public async Task A_drained_node_takes_no_new_jobs_but_finishes_its_running_ones()
    {
        var running = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sleep", "1")], Constraints = new JobConstraints { Node = "n1" } });
        await Cluster.WaitForAsync(running, s => s.State == JobState.Running);

        using var drain = await Cluster.Client.PostAsync("/scheduler/nodes/n1/drain", null);
        Assert.Equal(HttpStatusCode.OK, drain.StatusCode);
        Assert.True((await drain.Content.ReadFromJsonAsync<NodeView>(DroverJson.Options))!.Drained);
        Assert.DoesNotContain(await Cluster.NodesAsync("/scheduler/nodes/available"), n => n.Name == "n1");

        var pinned = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], Constraints = new JobConstraints { Node = "n1" } });
        var free = new List<long>();
        for (var i = 0; i < 3; i++)
            free.Add(await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] }));

        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(running)).Status);
        foreach (var id in free)
            Assert.Equal("n2", (await Cluster.WaitStoppedAsync(id)).Node);
        await Cluster.Eventually(async () => (await Cluster.QueueEntryAsync(pinned)).Reason == "every node that fits is drained", 30, "the pinned job to say why it waits");
        Assert.Equal(JobState.Queued, (await Cluster.StatusAsync(pinned)).State);

        using var undrain = await Cluster.Client.PostAsync("/scheduler/nodes/n1/undrain", null);
        Assert.Equal(HttpStatusCode.OK, undrain.StatusCode);
        Assert.Equal("n1", (await Cluster.WaitStoppedAsync(pinned)).Node);
    }

    [Fact]
    public async Task Draining_an_unknown_node_is_a_404()
    {
        using var response = await Cluster.Client.PostAsync("/scheduler/nodes/nobody/drain", null);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
