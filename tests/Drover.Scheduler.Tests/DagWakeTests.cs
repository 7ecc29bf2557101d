using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>
/// A DAG request wakes placement at once. The periodic pass is set to an hour here, so a DAG whose roots waited for
/// it would not start within the test at all. (Only the start is waited for: with the poll an hour apart too, a job's
/// end is known from the node's push alone, which this test does not need to depend on.)
/// </summary>
public class DagWakeTests() : ClusterTest(1, "--Scheduler:PollInterval=01:00:00")
{
    [Fact]
    public async Task A_DAG_request_starts_its_roots_without_a_periodic_pass()
    {
        var answer = await DagTests.SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["first"] = DagTests.Job("sleep 30"),
                ["second"] = DagTests.Job("true", "first"),
            },
        });
        var first = answer.Jobs["first"];
        JobRecord? record = null;
        await Cluster.Eventually(async () => (record = await Cluster.JobAsync(first)).State == JobState.Running, 30,
            () => $"the DAG's root {first} to run (it is {record?.State})");
        Assert.Equal(JobState.Queued, (await Cluster.JobAsync(answer.Jobs["second"])).State);
    }
}
