using Drover.Aws.Ecs;
using Drover.Aws.Http;
using Drover.Aws.Tests.Fake;
using Drover.Contracts;

namespace Drover.Aws.Tests;

// CA1001: xunit disposes them through IAsyncLifetime.DisposeAsync.
#pragma warning disable CA1001
public sealed class EcsNodeTests : IAsyncLifetime
#pragma warning restore CA1001
{
    private FakeAws _fake = null!;
    private AwsTestHost _host = null!;

    public async Task InitializeAsync()
    {
        _fake = await FakeAws.StartAsync();
        _host = new AwsTestHost(_fake);
    }

    public async Task DisposeAsync()
    {
        await _host.DisposeAsync();
        await _fake.DisposeAsync();
    }

    private static EcsStartRequest Job(long id, params CommandSpec[] commands) => new()
    {
        JobId = id,
        Attempt = 1,
        IdempotencyKey = $"{id}-1",
        Commands = commands,
    };

    private async Task<List<string>> Log(string arn, bool follow = false)
    {
        var lines = new List<string>();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await foreach (var line in _host.Node.ReadLogAsync(arn, follow, limit.Token))
            lines.Add(line.Message);
        return lines;
    }

    [Fact]
    public async Task A_job_runs_as_a_task_with_its_command_and_environment_and_ends_good()
    {
        var request = Job(1, CommandSpec.FromShell("echo \"hello $GREETING\"; echo two; echo three; echo four; echo five")) with
        {
            Environment = new Dictionary<string, string> { ["GREETING"] = "world" },
        };

        var started = await _host.Node.StartAsync(request, CancellationToken.None);

        Assert.True(started.Started, started.PlacementFailure);
        var task = _fake.Task(started.TaskArn!)!;
        Assert.Equal("drover-1-1", task.StartedBy);
        Assert.Equal("FARGATE", task.LaunchType);
        Assert.Equal(["/bin/sh", "-c", "echo \"hello $GREETING\"; echo two; echo three; echo four; echo five"], task.Command);
        var status = await _host.WaitForStatus(started.TaskArn!, s => s.State == JobState.Stopped, "the task to stop");
        Assert.Equal(JobStatus.Good, status.Status);
        Assert.Equal(0, status.ExitCode);
        Assert.Null(status.Reason);
        Assert.NotNull(status.StartedAt);
        Assert.NotNull(status.FinishedAt);
        Assert.Equal("EssentialContainerExited", status.StopCode);
        // Five lines over pages of three: paging must go on until the same token comes back.
        Assert.Equal(["hello world", "two", "three", "four", "five"], await Log(started.TaskArn!));
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task A_task_walks_provisioning_pending_running_stopped_and_counts_as_running_until_it_stops()
    {
        _fake.LifecycleStep = TimeSpan.FromSeconds(1);
        var started = await _host.Node.StartAsync(Job(13, CommandSpec.FromArgv("sleep", "1")), CancellationToken.None);
        var seen = new List<string>();
        var last = await _host.WaitForStatus(started.TaskArn!, s =>
        {
            if (seen.Count == 0 || seen[^1] != s.LastStatus)
                seen.Add(s.LastStatus!);
            Assert.Equal(s.LastStatus == "STOPPED" ? JobState.Stopped : JobState.Running, s.State);
            return s.State == JobState.Stopped;
        }, "the task to stop");

        // Each step lasts a second; a poll on a loaded machine may still miss one, but never sees them out of order.
        string[] lifecycle = ["PROVISIONING", "PENDING", "RUNNING", "STOPPED"];
        Assert.Equal(seen.OrderBy(s => Array.IndexOf(lifecycle, s)), seen);
        Assert.Equal("PROVISIONING", seen[0]);
        Assert.Equal("STOPPED", seen[^1]);
        Assert.True(seen.Count >= 3, string.Join(" ", seen));
        Assert.Equal(JobStatus.Good, last.Status);
    }

    [Fact]
    public async Task Several_commands_run_in_order_and_the_first_failure_ends_the_job_with_its_exit_code()
    {
        var started = await _host.Node.StartAsync(Job(2,
            CommandSpec.FromArgv("printf", "%s|\\n", "a b", "'q'", "$HOME", "; echo injected", "\"x\""),
            CommandSpec.FromShell("echo second; exit 3"),
            CommandSpec.FromArgv("echo", "never")), CancellationToken.None);

        var status = await _host.WaitForStatus(started.TaskArn!, s => s.State == JobState.Stopped, "the task to stop");
        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.ExitCode, status.Reason);
        Assert.Equal(3, status.ExitCode);
        Assert.Equal("EssentialContainerExited", status.StopCode);
        Assert.Equal("Essential container in task exited", status.StoppedReason);
        // Every word arrives as it was given: nothing was pasted into a shell line.
        Assert.Equal(["a b|", "'q'|", "$HOME|", "; echo injected|", "\"x\"|", "second"], await Log(started.TaskArn!));
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Kill_stops_the_task_with_the_reason_given()
    {
        var started = await _host.Node.StartAsync(Job(3, CommandSpec.FromArgv("sleep", "60")), CancellationToken.None);
        await _host.WaitForStatus(started.TaskArn!, s => s.State == JobState.Running && s.StartedAt is not null, "the task to run");

        var answer = await _host.Node.KillAsync(started.TaskArn!, "killed from Drover", CancellationToken.None);

        Assert.NotNull(answer);
        Assert.Equal("UserInitiated", answer.StopCode);
        var status = await _host.WaitForStatus(started.TaskArn!, s => s.State == JobState.Stopped, "the task to stop");
        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.Killed, status.Reason);
        Assert.Equal("killed from Drover", status.StoppedReason);
        Assert.NotEqual(0, status.ExitCode);
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Following_a_log_streams_lines_while_the_task_runs_and_ends_when_it_stops()
    {
        var started = await _host.Node.StartAsync(
            Job(4, CommandSpec.FromShell("for i in 1 2 3 4 5; do echo line $i; sleep 0.2; done")), CancellationToken.None);

        var lines = await Log(started.TaskArn!, follow: true);

        Assert.Equal(["line 1", "line 2", "line 3", "line 4", "line 5"], lines);
        var status = await _host.Node.StatusAsync([started.TaskArn!], CancellationToken.None);
        Assert.Equal(JobStatus.Good, status[started.TaskArn!].Status);
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Failures_in_a_RunTask_answer_are_a_placement_failure_with_the_reason()
    {
        _fake.PlacementFailures.Enqueue("RESOURCE:MEMORY");

        var started = await _host.Node.StartAsync(Job(5, CommandSpec.FromArgv("true")), CancellationToken.None);

        Assert.False(started.Started);
        Assert.Contains("RESOURCE:MEMORY", started.PlacementFailure, StringComparison.Ordinal);
        Assert.Equal(0, _fake.TasksCreated);
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Throttled_and_failed_calls_are_retried_each_signed_anew_and_make_one_task()
    {
        _fake.ThrottleNext(2);

        var started = await _host.Node.StartAsync(Job(6, CommandSpec.FromArgv("true")), CancellationToken.None);

        Assert.True(started.Started);
        Assert.Equal(3, _fake.Calls.Count(c => c == "RunTask"));
        Assert.Equal(1, _fake.TasksCreated);
        _fake.FailNext(1);
        var status = await _host.WaitForStatus(started.TaskArn!, s => s.State == JobState.Stopped, "the task to stop");
        Assert.Equal(JobStatus.Good, status.Status);
        // A late retry re-enters the signer: an old signature replayed would have been refused.
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task A_call_that_hangs_is_given_up_and_sent_again_and_the_client_token_keeps_it_to_one_task()
    {
        await using var impatient = new AwsTestHost(_fake, s => s["Aws:AttemptTimeout"] = "00:00:00.500");
        _fake.DelayNext(1, TimeSpan.FromSeconds(3));

        var started = await impatient.Node.StartAsync(Job(12, CommandSpec.FromArgv("true")), CancellationToken.None);

        Assert.True(started.Started);
        Assert.Equal(2, _fake.Calls.Count(c => c == "RunTask"));
        // The first call is carried out late, after the second made the task: it gets the same one.
        await AwsTestHost.WaitFor(async () => _fake.RunTaskAnswers >= 2 ? "" : null, "the late call to be answered");
        Assert.Equal(1, _fake.TasksCreated);
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Throttling_that_outlasts_the_retries_surfaces_as_a_typed_error()
    {
        _fake.ThrottleNext(10);

        var error = await Assert.ThrowsAsync<AwsServiceException>(
            () => _host.Node.StartAsync(Job(7, CommandSpec.FromArgv("true")), CancellationToken.None));

        Assert.Equal("ThrottlingException", error.ErrorType);
        Assert.Equal("Rate exceeded", error.AwsMessage);
        Assert.Equal(4, _fake.Calls.Count(c => c == "RunTask"));
        _fake.ThrottleNext(0);
    }

    [Fact]
    public async Task Health_is_the_cluster_being_active_and_errors_carry_their_type_and_message()
    {
        var healthy = await _host.Node.CheckHealthAsync(CancellationToken.None);
        Assert.True(healthy.Healthy);
        Assert.Equal("ACTIVE", healthy.Status);

        await using var wrong = new AwsTestHost(_fake, s => s["Aws:EcsNodes:0:Cluster"] = "no-such-cluster");
        var missing = await wrong.Node.CheckHealthAsync(CancellationToken.None);
        Assert.False(missing.Healthy);
        Assert.Equal("MISSING", missing.Status);
        Assert.Contains("ClusterNotFoundException", missing.Error, StringComparison.Ordinal);
        var error = await Assert.ThrowsAsync<AwsServiceException>(
            () => wrong.Node.StartAsync(Job(8, CommandSpec.FromArgv("true")), CancellationToken.None));
        Assert.Equal("ClusterNotFoundException", error.ErrorType);
        Assert.Equal("Cluster not found.", error.AwsMessage);

        await using var badKey = new AwsTestHost(_fake, s => s["Aws:SecretAccessKey"] = "not-the-secret");
        var denied = await badKey.Node.CheckHealthAsync(CancellationToken.None);
        Assert.False(denied.Healthy);
        Assert.StartsWith("InvalidSignatureException", denied.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_restarted_node_follows_its_tasks_by_arn_and_starts_none_twice()
    {
        var request = Job(9, CommandSpec.FromShell("sleep 1; echo done"));
        var first = await _host.Node.StartAsync(request, CancellationToken.None);
        await _host.WaitForStatus(first.TaskArn!, s => s.State == JobState.Running, "the task to be seen");
        await _host.DisposeAsync();

        _host = new AwsTestHost(_fake);
        var again = await _host.Node.StartAsync(request, CancellationToken.None);
        var found = await _host.Node.FindTasksAsync(9, 1, CancellationToken.None);
        var status = await _host.WaitForStatus(first.TaskArn!, s => s.State == JobState.Stopped, "the task to stop");

        Assert.Equal(first.TaskArn, again.TaskArn);
        Assert.Equal([first.TaskArn!], found);
        Assert.Equal(1, _fake.TasksCreated);
        Assert.Equal(JobStatus.Good, status.Status);
        Assert.Empty(_fake.Rejections);
    }

    [Fact]
    public async Task Status_asks_in_batches_of_one_hundred()
    {
        var started = await _host.Node.StartAsync(Job(10, CommandSpec.FromArgv("true")), CancellationToken.None);
        var arns = Enumerable.Range(0, 149).Select(i => $"arn:aws:ecs:us-east-1:123456789012:task/{FakeAws.Cluster}/unknown{i}")
            .Append(started.TaskArn!).ToList();
        var before = _fake.Calls.Count(c => c == "DescribeTasks");

        var status = await _host.Node.StatusAsync(arns, CancellationToken.None);

        Assert.Equal(2, _fake.Calls.Count(c => c == "DescribeTasks") - before);
        Assert.Equal(150, status.Count);
        // The unknown ones are within their grace period: not started as far as anyone knows, not lost yet.
        Assert.Equal(149, status.Values.Count(s => s.State == JobState.Queued && s.LastStatus == "MISSING"));
        Assert.Empty(_fake.Rejections);
    }
}
