using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>Feature "push": heartbeats and job state changes reach a (small, real) scheduler.</summary>
public sealed class PushTests
{
    [Fact]
    public async Task The_node_heartbeats_and_pushes_job_changes_with_its_scheduler_token()
    {
        await using var scheduler = await FakeScheduler.StartAsync();
        await using var host = await ProcessorHost.StartAsync(null,
            "--Processor:Name", "pusher", "--Processor:SchedulerUrl", scheduler.Url.ToString(), // a scheduler behind a path
            "--Processor:SchedulerToken", "node-token", "--Processor:HeartbeatInterval", "00:00:00.200");

        await ProcessorHost.WaitUntilAsync(() => scheduler.Heartbeats.Count >= 2, "two heartbeats");
        var heartbeat = scheduler.Heartbeats.First();
        Assert.Equal("pusher", heartbeat.Name);
        Assert.Equal(host.Address.ToString().TrimEnd('/'), heartbeat.Uri);
        Assert.Contains(NodeFeatures.Push, heartbeat.Features);

        var id = await host.SubmitAsync("""{"commands": [["true"]]}""");
        await ProcessorHost.WaitUntilAsync(() => scheduler.Pushed.Any(p => p.Node == "pusher" && p.Job.RequestId == id && p.Job.State == JobState.Stopped),
            "the job's stop to be pushed");
        var stopped = scheduler.Pushed.Single(p => p.Job.RequestId == id && p.Job.State == JobState.Stopped).Job;
        Assert.Equal(JobStatus.Good, stopped.Status);
        // The start was answered "running" (the job holds a slot and starts at once), so only its stop is news.
        Assert.Equal([JobState.Stopped], scheduler.Pushed.Where(p => p.Job.RequestId == id).Select(p => p.Job.State));
        Assert.All(scheduler.Authorizations, a => Assert.Equal("Bearer node-token", a));
    }

    [Fact]
    public async Task A_scheduler_that_cannot_be_reached_never_affects_running_jobs()
    {
        await using var host = await ProcessorHost.StartAsync(null,
            "--Processor:SchedulerUrl", "http://127.0.0.1:1/", "--Processor:HeartbeatInterval", "00:00:00.100");

        var id = await host.SubmitAsync("""{"commands": [["echo", "fine"]]}""");
        Assert.Equal(JobStatus.Good, (await host.WaitStoppedAsync(id)).Status);
        Assert.Equal("fine\n", await host.LogAsync(id));
    }

    [Fact]
    public async Task A_job_that_asks_is_stopped_node_lost_once_the_scheduler_was_not_reached_for_the_configured_time()
    {
        var before = DateTimeOffset.UtcNow;
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Slots", "4",
            "--Processor:SchedulerUrl", "http://127.0.0.1:1/", "--Processor:HeartbeatInterval", "00:00:00.100",
            "--Processor:DisconnectedStopAfter", "00:00:01");
        var fenced = await host.SubmitAsync("""{"commands": [["sh", "-c", "sleep 60 & sleep 60"]], "stop_when_disconnected": true}""");
        var other = await host.SubmitAsync("""{"commands": [["sleep", "60"]]}""");

        var status = await host.WaitStoppedAsync(fenced, seconds: 20);
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.NodeLost), (status.Status, status.Reason));
        // Not before the scheduler went unreached for the configured second (counted from the Processor's start).
        Assert.True(status.FinishedAt - before >= TimeSpan.FromSeconds(1), $"stopped at {status.FinishedAt}, the host started after {before}");
        // A job that did not ask runs on: only the scheduler decides about it.
        Assert.Equal(JobState.Running, (await host.StatusAsync(other)).State);
    }
}
