using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>
/// Work that a DAG request makes wakes placement at once. The periodic pass is set to an hour here, so a DAG whose
/// roots waited for it would not start within the test at all.
/// </summary>
public sealed class DagWakeTests() : ClusterTest(1, "--Scheduler:PollInterval=01:00:00")
{
    [Fact]
    public async Task A_DAG_request_starts_its_roots_and_then_their_dependents_without_a_periodic_pass()
    {
        var answer = await DagTests.SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["first"] = DagTests.Job("true"),
                ["second"] = DagTests.Job("true", "first"),
            },
        });
        var dag = await DagTests.WaitDagStoppedAsync(Cluster, answer.Root);
        Assert.All(dag.Jobs, j => Assert.Equal(JobStatus.Good, j.Status));
    }
}
