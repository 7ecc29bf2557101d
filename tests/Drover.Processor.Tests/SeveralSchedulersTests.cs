using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Tests;

/// <summary>A node that knows several schedulers (over one database) calls whichever answers.</summary>
public sealed class SeveralSchedulersTests
{
    private const string Job = """{"commands": [["true"]]}""";

    [Fact]
    public async Task With_the_first_scheduler_down_the_node_registers_and_pushes_with_the_second()
    {
        var dead = new Uri($"http://127.0.0.1:{FakeScheduler.DeadPort()}/drover");
        await using var second = await FakeScheduler.StartAsync();
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Name", "two",
            "--Processor:SchedulerUrls:0", dead.ToString(), "--Processor:SchedulerUrls:1", second.Url.ToString(),
            "--Processor:HeartbeatInterval", "00:00:00.200");

        await ProcessorHost.WaitUntilAsync(() => second.Heartbeats.Count >= 2, "two heartbeats at the second scheduler");
        var id = await host.SubmitAsync(Job);
        await ProcessorHost.WaitUntilAsync(() => second.Pushed.Any(p => p.Node == "two" && p.Job.RequestId == id && p.Job.State == JobState.Stopped),
            "the job's stop to be pushed to the second scheduler");

        // Both show in the node's description, in order.
        var info = await host.Client.GetFromJsonAsync<NodeInfo>("/processor/info", DroverJson.Options);
        Assert.Equal([dead.ToString(), second.Url.ToString()], info!.SchedulerUrls);
    }

    [Fact]
    public async Task A_failing_scheduler_costs_one_attempt_and_the_node_stays_with_the_one_that_answered()
    {
        await using var first = await FakeScheduler.StartAsync();
        first.Answer = HttpStatusCode.ServiceUnavailable;
        await using var second = await FakeScheduler.StartAsync();
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Name", "sticky",
            "--Processor:SchedulerUrls", $"{first.Url};{second.Url}", "--Processor:HeartbeatInterval", "00:00:00.100");

        // The first heartbeat is the first call: it tries the first scheduler, then the second.
        await ProcessorHost.WaitUntilAsync(() => !second.Heartbeats.IsEmpty, "a heartbeat at the second scheduler");
        var id = await host.SubmitAsync(Job);
        await ProcessorHost.WaitUntilAsync(() => second.Heartbeats.Count >= 5 && second.Pushed.Any(p => p.Job.RequestId == id && p.Job.State == JobState.Stopped),
            "heartbeats and the job's stop at the second scheduler");

        // Every call since went straight to the second.
        Assert.Single(first.Heartbeats);
        Assert.Empty(first.Pushed);
    }

    [Fact]
    public async Task When_its_scheduler_dies_the_node_moves_to_another_that_answers()
    {
        var firstPort = FakeScheduler.DeadPort();
        var second = await FakeScheduler.StartAsync();
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Name", "mover",
            "--Processor:SchedulerUrls:0", $"http://127.0.0.1:{firstPort}/drover", "--Processor:SchedulerUrls:1", second.Url.ToString(),
            "--Processor:HeartbeatInterval", "00:00:00.200");
        await ProcessorHost.WaitUntilAsync(() => !second.Heartbeats.IsEmpty, "a heartbeat at the second scheduler");

        await second.DisposeAsync();
        await using var first = await FakeScheduler.StartAsync(firstPort);
        await ProcessorHost.WaitUntilAsync(() => first.Heartbeats.Count >= 2, "heartbeats at the first scheduler, now up");
        var id = await host.SubmitAsync(Job);
        await ProcessorHost.WaitUntilAsync(() => first.Pushed.Any(p => p.Node == "mover" && p.Job.RequestId == id && p.Job.State == JobState.Stopped),
            "the job's stop to be pushed to the first scheduler");
    }

    [Fact]
    public async Task A_refusal_is_no_reason_to_try_another_scheduler()
    {
        await using var first = await FakeScheduler.StartAsync();
        first.Answer = HttpStatusCode.Conflict; // as a scheduler answers a heartbeat that would move a node that is up
        await using var second = await FakeScheduler.StartAsync();
        await using var host = await ProcessorHost.StartAsync(null,
            "--Processor:SchedulerUrls:0", first.Url.ToString(), "--Processor:SchedulerUrls:1", second.Url.ToString(),
            "--Processor:HeartbeatInterval", "00:00:00.100");

        await ProcessorHost.WaitUntilAsync(() => first.Heartbeats.Count >= 3, "three heartbeats at the first scheduler");
        Assert.Empty(second.Heartbeats);
    }

    [Fact]
    public async Task Scheduler_url_and_scheduler_urls_together_are_refused_naming_both()
    {
        var failures = await StartFailuresAsync("--Processor:SchedulerUrl", "http://127.0.0.1:8081", "--Processor:SchedulerUrls:0", "http://127.0.0.1:8091");
        Assert.Contains(failures, f => f.Contains("Processor:SchedulerUrl ", StringComparison.Ordinal) && f.Contains("Processor:SchedulerUrls", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_scheduler_url_that_is_not_absolute_http_is_refused()
    {
        var failures = await StartFailuresAsync("--Processor:SchedulerUrls", "http://127.0.0.1:8081;ftp://scheduler;scheduler:8081/x");
        Assert.Contains(failures, f => f.Contains("'ftp://scheduler'", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("'scheduler:8081/x'", StringComparison.Ordinal));
        Assert.DoesNotContain(failures, f => f.Contains("127.0.0.1:8081", StringComparison.Ordinal));
    }

    private static async Task<IEnumerable<string>> StartFailuresAsync(params string[] settings)
    {
        var state = ProcessorHost.NewStateDirectory();
        try
        {
            await using var app = ProcessorApp.Create(["--urls", "http://127.0.0.1:0", "--Processor:StateDirectory", state, .. settings]);
            return (await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync())).Failures;
        }
        finally
        {
            ProcessorHost.DeleteDirectory(state);
        }
    }
}
