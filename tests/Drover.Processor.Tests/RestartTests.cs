using System.Diagnostics;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>A new Processor over the same state directory: nothing accepted is forgotten, nothing is left running forever, nothing runs twice.</summary>
public sealed class RestartTests : IDisposable
{
    private readonly string _state = ProcessorHost.NewStateDirectory();

    public void Dispose() => ProcessorHost.DeleteDirectory(_state);

    [Fact]
    public async Task Finished_jobs_still_answer_and_a_job_still_running_is_re_attached_and_finishes()
    {
        var gate = Path.Combine(_state, "go");
        await using (var first = await ProcessorHost.StartAsync(_state))
        {
            await first.SubmitAsync("""{"commands": [["echo", "finished before"]], "request_id": "done"}""");
            await first.WaitStoppedAsync("done");
            await first.SubmitAsync($$"""
                {"commands": [{"shell": "echo started; while [ ! -e '{{gate}}' ]; do sleep 0.05; done; echo after"}, ["echo", "next command"]],
                 "request_id": "alive"}
                """);
            await ProcessorHost.WaitUntilAsync(() => File.ReadAllText(Path.Combine(first.JobsRoot, "alive", "log")).Contains("started", StringComparison.Ordinal), "the job to start");
            await first.StopAsync();
        }

        await using var second = await ProcessorHost.StartAsync(_state);
        var done = await second.StatusAsync("done");
        Assert.Equal(JobStatus.Good, done.Status);
        Assert.Equal("finished before\n", await second.LogAsync("done"));
        Assert.Equal(JobState.Running, (await second.StatusAsync("alive")).State);

        await File.WriteAllTextAsync(gate, "");
        var alive = await second.WaitStoppedAsync("alive");
        Assert.Equal(JobStatus.Good, alive.Status);
        Assert.Equal(0, alive.ExitCode);
        Assert.Equal("started\nafter\nnext command\n", await second.LogAsync("alive"));
    }

    [Fact]
    public async Task A_job_whose_process_died_with_the_processor_is_stopped_with_node_restarted()
    {
        int processGroup;
        await using (var first = await ProcessorHost.StartAsync(_state))
        {
            await first.SubmitAsync("""{"commands": [["sleep", "100"], ["echo", "never"]], "request_id": "lost"}""");
            var record = Path.Combine(first.JobsRoot, "lost", "process");
            await ProcessorHost.WaitUntilAsync(() => File.Exists(record), "the job to start");
            using var process = JsonDocument.Parse(File.ReadAllText(record));
            processGroup = process.RootElement.GetProperty("pid").GetInt32();
            await first.StopAsync();
        }
        // The machine's processes die with the node.
        using (var kill = Process.Start("kill", ["-KILL", "--", $"-{processGroup}"]))
            await kill.WaitForExitAsync();
        await ProcessorHost.WaitUntilAsync(() => !ProcessorHost.ProcessAlive(processGroup), "the job's process to die");

        await using var second = await ProcessorHost.StartAsync(_state);
        var status = await second.StatusAsync("lost");
        Assert.Equal(JobState.Stopped, status.State);
        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.NodeRestarted, status.Reason);
        Assert.Null(status.ExitCode);
        Assert.Contains("unknown", status.Message, StringComparison.Ordinal);
        Assert.Equal("", await second.LogAsync("lost"));

        // What the status file says survives yet another restart.
        await second.StopAsync();
        await using var third = await ProcessorHost.StartAsync(_state);
        Assert.Equal(StopReason.NodeRestarted, (await third.StatusAsync("lost")).Reason);
    }

    [Fact]
    public async Task A_job_accepted_but_never_started_is_started_and_a_half_recorded_one_is_dropped()
    {
        // What a Processor that died right after answering 201 leaves behind; and one that died while recording.
        var root = Path.Combine(_state, "processor", "job");
        Directory.CreateDirectory(Path.Combine(root, "waiting", "work"));
        File.WriteAllText(Path.Combine(root, "waiting", "spec.json"), """{"commands": [{"exec": ["echo", "ran once"]}], "environment": {}, "request_id": "waiting"}""");
        File.WriteAllText(Path.Combine(root, "waiting", "status"), """{"request_id": "waiting", "state": "queued", "status": "unknown", "created_at": "2026-11-29T07:41:00Z"}""");
        File.WriteAllText(Path.Combine(root, "waiting", "log"), "");
        Directory.CreateDirectory(Path.Combine(root, ".new-0123", "work"));
        File.WriteAllText(Path.Combine(root, ".new-0123", "spec.json"), "{\"comm");

        await using var host = await ProcessorHost.StartAsync(_state);
        var status = await host.WaitStoppedAsync("waiting");
        Assert.Equal(JobStatus.Good, status.Status);
        Assert.Equal("ran once\n", await host.LogAsync("waiting"));
        Assert.False(Directory.Exists(Path.Combine(root, ".new-0123")));
    }
}
