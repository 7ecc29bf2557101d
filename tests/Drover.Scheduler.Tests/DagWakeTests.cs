using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>
/// Work is found without the periodic pass and the poll, both set to an hour here: a DAG request wakes placement at
/// once, and a job's end is known from the node's push alone, however quickly the job ends.
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

    [Fact]
    public async Task A_chain_of_jobs_that_end_at_once_runs_on_the_nodes_pushes_alone()
    {
        // Each job ends within milliseconds, so its push says 'stopped' while its start's 'running' is still being
        // recorded: a push decided against the attempt as it was read must not be dropped for the poll an hour later.
        var jobs = new Dictionary<string, object>();
        for (var i = 0; i < 20; i++)
            jobs[$"j{i}"] = i == 0 ? DagTests.Job("true") : DagTests.Job("true", $"j{i - 1}");
        var answer = await DagTests.SubmitDagAsync(Cluster, new { jobs });
        var dag = await DagTests.WaitDagStoppedAsync(Cluster, answer.Jobs["j19"]);
        Assert.Equal(JobStatus.Good, dag.Status);
    }
}
