using System.Net;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>Idempotency, kill, timeout and slots.</summary>
public sealed class LifecycleTests : IAsyncLifetime
{
    private ProcessorHost _host = null!;

    public async Task InitializeAsync() => _host = await ProcessorHost.StartAsync(null, "--Processor:Slots", "3");

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_same_request_id_again_returns_the_job_already_there_and_never_runs_it_twice()
    {
        const string job = """{"commands": [["sh", "-c", "echo ran"]], "request_id": "once"}""";
        using var first = await _host.PostJsonAsync("/processor/jobs/new", job);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal("/processor/jobs/once/status", first.Headers.Location?.OriginalString);
        var accepted = await ProcessorHost.ReadStatusAsync(first);
        Assert.Equal(JobState.Running, accepted.State); // it holds a slot and starts at once
        Assert.NotNull(accepted.StartedAt);
        await _host.WaitStoppedAsync("once");

        using var again = await _host.PostJsonAsync("/processor/job/new", job);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(JobState.Stopped, (await ProcessorHost.ReadStatusAsync(again)).State);
        Assert.Equal("ran\n", await _host.LogAsync("once"));
    }

    [Fact]
    public async Task Two_identical_requests_racing_make_one_job_and_one_run()
    {
        const string job = """{"commands": [["sh", "-c", "echo ran"]], "request_id": "race"}""";
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => _host.PostJsonAsync("/processor/jobs/new", job)));

        Assert.Equal(1, responses.Count(r => r.StatusCode == HttpStatusCode.Created));
        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        await _host.WaitStoppedAsync("race");
        Assert.Equal("ran\n", await _host.LogAsync("race"));
        Assert.Single(Directory.EnumerateDirectories(_host.JobsRoot));
        foreach (var response in responses)
            response.Dispose();
    }

    [Fact]
    public async Task Kill_ends_the_whole_process_tree()
    {
        var id = await _host.SubmitAsync("""
            {"commands": [{"shell": "sleep 100 & echo $! > background.pid; echo $$ > shell.pid; sleep 100"}], "request_id": "tree"}
            """);
        var work = _host.WorkDirectory(id);
        await ProcessorHost.WaitUntilAsync(() => File.Exists(Path.Combine(work, "shell.pid")) && File.Exists(Path.Combine(work, "background.pid")), "the job to start");
        string[] pidFiles = ["shell.pid", "background.pid"];
        var pids = pidFiles.Select(f => int.Parse(File.ReadAllText(Path.Combine(work, f)).Trim())).ToArray();
        Assert.All(pids, pid => Assert.True(ProcessorHost.ProcessAlive(pid)));

        using var response = await _host.Client.PostAsync($"/processor/jobs/{id}/kill", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = await ProcessorHost.ReadStatusAsync(response);

        Assert.Equal(JobState.Stopped, status.State);
        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.Killed, status.Reason);
        Assert.Null(status.ExitCode);
        await ProcessorHost.WaitUntilAsync(() => pids.All(pid => !ProcessorHost.ProcessAlive(pid)), "every process of the job to end", 10);

        // Killing a stopped job changes nothing.
        using var again = await _host.Client.PostAsync($"/processor/job/{id}/kill", null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(status.FinishedAt, (await ProcessorHost.ReadStatusAsync(again)).FinishedAt);
    }

    [Fact]
    public async Task Kill_reaches_a_process_that_ignores_sigterm_after_the_grace_period()
    {
        var id = await _host.SubmitAsync("""{"commands": [{"shell": "trap '' TERM; echo $$ > shell.pid; while :; do sleep 1; done"}]}""");
        var pidFile = Path.Combine(_host.WorkDirectory(id), "shell.pid");
        await ProcessorHost.WaitUntilAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).Length > 0, "the job to start");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim());

        using var response = await _host.Client.PostAsync($"/processor/jobs/{id}/kill", null);
        Assert.Equal(StopReason.Killed, (await ProcessorHost.ReadStatusAsync(response)).Reason);
        await ProcessorHost.WaitUntilAsync(() => !ProcessorHost.ProcessAlive(pid), "the stubborn process to end", 10);
    }

    [Fact]
    public async Task The_processor_enforces_timeout_seconds()
    {
        var id = await _host.SubmitAsync("""{"commands": [["sleep", "100"], ["echo", "never"]], "timeout_seconds": 0.5}""");
        var status = await _host.WaitStoppedAsync(id);

        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.TimedOut, status.Reason);
        Assert.Null(status.ExitCode);
        Assert.Equal("", await _host.LogAsync(id));
    }

    [Fact]
    public async Task A_job_beyond_the_slots_gets_429_with_retry_after_and_nothing_is_recorded()
    {
        var running = new List<string>();
        for (var i = 0; i < 3; i++)
            running.Add(await _host.SubmitAsync($$"""{"commands": [["sleep", "100"]], "request_id": "busy-{{i}}"}"""));

        using var refused = await _host.PostJsonAsync("/processor/jobs/new", """{"commands": [["true"]], "request_id": "one-too-many"}""");
        await ProcessorHost.AssertProblemAsync(refused, HttpStatusCode.TooManyRequests, "slots");
        Assert.True(refused.Headers.RetryAfter is not null);
        Assert.False(Directory.Exists(Path.Combine(_host.JobsRoot, "one-too-many")));
        using (var unknown = await _host.Client.GetAsync("/processor/jobs/one-too-many/status"))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // A repeated request for a job already there is answered even when the slots are full.
        using (var repeated = await _host.PostJsonAsync("/processor/jobs/new", """{"commands": [["sleep", "100"]], "request_id": "busy-0"}"""))
            Assert.Equal(HttpStatusCode.OK, repeated.StatusCode);

        using var info = JsonDocument.Parse(await _host.Client.GetStringAsync("/processor/info"));
        Assert.Equal(3, info.RootElement.GetProperty("running").GetInt32());

        // A slot freed by a kill takes the next job.
        using (await _host.Client.PostAsync($"/processor/jobs/{running[0]}/kill", null))
        {
        }
        await _host.SubmitAsync("""{"commands": [["true"]], "request_id": "one-too-many"}""");
    }
}
