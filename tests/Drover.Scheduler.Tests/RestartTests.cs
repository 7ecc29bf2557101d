using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>A scheduler killed with SIGKILL and started again over its store loses nothing and runs nothing twice.</summary>
public class RestartTests() : ClusterTest(processors: 2)
{
    public override async Task InitializeAsync() => Cluster = await Cluster.StartWithChildSchedulerAsync(processors: 2, await DatabaseAsync());

    [Fact]
    public async Task After_SIGKILL_every_accepted_job_finishes_exactly_once()
    {
        var runs = Path.Combine(Cluster.Directory, "runs");
        var ids = new List<long>();
        for (var i = 0; i < 12; i++)
            ids.Add(await Cluster.SubmitAsync(new JobSpec
            {
                Commands = [CommandSpec.FromShell($"echo $DROVER_JOB_ID >> {runs}; sleep 1")],
                MaxAttempts = 1,
            }));

        // Kill it while some jobs run and others wait in the queue.
        await Cluster.Eventually(async () => (await Cluster.StatusAsync(ids[0])).State == JobState.Running, 45, "the first job to run");
        await Cluster.KillChildAsync();
        // Refused, as it must be: nobody accepted it.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] }));

        await Cluster.StartChildAsync();
        ids.Add(await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell($"echo $DROVER_JOB_ID >> {runs}")] }));
        foreach (var id in ids)
            Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id, seconds: 90)).Status);

        var lines = (await File.ReadAllLinesAsync(runs)).Select(long.Parse).ToList();
        Assert.Equal(ids.Order(), lines.Order());
        foreach (var id in ids)
            Assert.Single((await Cluster.JobAsync(id)).Attempts);
    }
}
