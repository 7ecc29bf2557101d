using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Failed attempts are retried with backoff until one succeeds or max_attempts runs out; timeouts kill.</summary>
public class RetryTests() : ClusterTest(processors: 2)
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

    [Fact]
    public async Task A_timed_out_job_is_not_retried_and_stops_timed_out()
    {
        // The seed's own case: a timeout removes the job from the queue, beside "re-executed too many times".
        using var response = await Cluster.PostFormAsync("/scheduler/jobs/new", ("command", "sleep 30"), ("timeout", "1"));
        var id = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SubmitAnswer>(response.Content, DroverJson.Options))!.JobId;
        var status = await Cluster.WaitStoppedAsync(id, seconds: 30);
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.TimedOut, (StopReason?)StopReason.TimedOut), (status.Status, status.Reason, status.LastReason));
        Assert.Equal(1, status.Attempts);
        var attempt = Assert.Single((await Cluster.JobAsync(id)).Attempts);
        Assert.Equal(StopReason.TimedOut, attempt.Reason);
        Assert.Null(attempt.ExitCode);
    }

    [Fact]
    public async Task A_job_that_retries_on_timeouts_stops_with_retries_exhausted_and_says_each_attempt_timed_out()
    {
        using var response = await Cluster.PostFormAsync("/scheduler/jobs/new",
            ("command", "sleep 30"), ("timeout", "1"), ("max_attempts", "2"), ("retry_on", "exit_code,timed_out"));
        var id = (await System.Net.Http.Json.HttpContentJsonExtensions.ReadFromJsonAsync<SubmitAnswer>(response.Content, DroverJson.Options))!.JobId;
        var status = await Cluster.WaitStoppedAsync(id, seconds: 45);
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.RetriesExhausted, (StopReason?)StopReason.TimedOut), (status.Status, status.Reason, status.LastReason));
        var record = await Cluster.JobAsync(id);
        Assert.Equal([StopReason.ExitCode, StopReason.TimedOut], record.Spec.RetryOn);
        Assert.Equal(StopReason.TimedOut, record.LastReason);
        Assert.Equal([StopReason.TimedOut, StopReason.TimedOut], record.Attempts.Select(a => a.Reason));
    }

    [Fact]
    public async Task A_job_that_does_not_retry_on_exit_codes_stops_at_its_first_failure()
    {
        var id = await Cluster.SubmitAsync("""{"commands": [["sh", "-c", "exit 4"]], "max_attempts": 3, "retry_on": ["timed_out"]}""");
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal((StopReason.ExitCode, 4, 1), (status.Reason, status.ExitCode, status.Attempts));
    }

    [Theory]
    [InlineData("""{"commands": [["true"]], "retry_on": ["node_lost"]}""", "retry_on[0]")]
    [InlineData("""{"commands": [["true"]], "retry_on": ["sometimes"]}""", "retry_on")]
    public async Task A_retry_on_that_names_no_retryable_reason_is_refused(string json, string field)
    {
        using var response = await Cluster.PostJsonAsync("/scheduler/jobs/new", json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(field, body, StringComparison.Ordinal);
    }
}
