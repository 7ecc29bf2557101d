using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Failed attempts are retried with backoff until one succeeds or max_attempts runs out; timeouts kill.</summary>
public sealed class RetryTests() : ClusterTest(processors: 2)
{
    [Fact]
    public async Task A_failing_job_is_retried_until_it_succeeds()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell("echo try $DROVER_ATTEMPT; [ \"$DROVER_ATTEMPT\" -ge 3 ]")], MaxAttempts = 4 });
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal(JobStatus.Good, status.Status);
        var record = await Cluster.JobAsync(id);
        Assert.Equal([1, 2, 3], record.Attempts.Select(a => a.Number));
        Assert.Equal([JobStatus.Error, JobStatus.Error, JobStatus.Good], record.Attempts.Select(a => a.Status));
        Assert.Equal(StopReason.ExitCode, record.Attempts[0].Reason);
        Assert.Equal(1, record.Attempts[0].ExitCode);
        Assert.Equal("try 3\n", await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log"));
    }

    [Fact]
    public async Task A_job_that_keeps_failing_stops_with_retries_exhausted()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sh", "-c", "exit 7")], MaxAttempts = 3 });
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal((JobStatus.Error, StopReason.RetriesExhausted, 7), (status.Status, status.Reason, status.ExitCode));
        var record = await Cluster.JobAsync(id);
        Assert.Equal(3, record.Attempts.Count);
        Assert.All(record.Attempts, a => Assert.Equal(7, a.ExitCode));
        // Backoff: each retry was placed after the previous attempt finished.
        for (var i = 1; i < record.Attempts.Count; i++)
            Assert.True(record.Attempts[i].PlacedAt >= record.Attempts[i - 1].FinishedAt);
        Assert.False((await Cluster.QueueEntryAsync(id)).Queued);
    }

    [Fact]
    public async Task A_job_with_one_attempt_stops_with_its_own_reason()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("false")], MaxAttempts = 1 });
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal((JobStatus.Error, StopReason.ExitCode, 1), (status.Status, status.Reason, status.ExitCode));
    }

    [Fact]
    public async Task A_job_past_its_timeout_is_killed_and_stops_timed_out()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sleep", "60")], TimeoutSeconds = 1, MaxAttempts = 1 });
        var status = await Cluster.WaitStoppedAsync(id, seconds: 30);
        Assert.Equal((JobStatus.Error, StopReason.TimedOut), (status.Status, status.Reason));
        Assert.True(status.FinishedAt - status.StartedAt < TimeSpan.FromSeconds(20));
    }
}
