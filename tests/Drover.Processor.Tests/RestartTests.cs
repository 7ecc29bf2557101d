using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>A new Processor over the same state directory: nothing accepted is forgotten, nothing is left running forever, nothing runs twice.</summary>
public sealed class RestartTests : IDisposable
{
    private static readonly string[] Ended = ["one", "two", "fails"];
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
        // The machine's processes die with the node: the supervisor too, before it could record anything.
        var supervisor = ProcessorHost.SupervisorPid(_state);
        Assert.NotNull(supervisor);
        foreach (var target in new[] { supervisor.Value.ToString(CultureInfo.InvariantCulture), $"-{processGroup}" })
        {
            using var kill = Process.Start("kill", ["-KILL", "--", target])!;
            await kill.WaitForExitAsync();
            await ProcessorHost.WaitUntilAsync(() => !ProcessorHost.ProcessAlive(supervisor.Value), "the supervisor to die");
        }
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
    public async Task A_command_that_ended_while_the_processor_was_down_lets_the_job_go_on_as_if_it_never_left()
    {
        var gate = Path.Combine(_state, "go");
        var ledger = Path.Combine(_state, "ledger");
        await using (var first = await ProcessorHost.StartAsync(_state, "--Processor:Slots", "4"))
        {
            foreach (var (id, end) in new[] { ("one", "exit 0"), ("two", "exit 0"), ("fails", "exit 3") })
            {
                var rest = id == "two" ? $$""", {"shell": "echo second >> '{{ledger}}'"}""" : "";
                await first.SubmitAsync($$"""
                    {"commands": [{"shell": "while [ ! -e '{{gate}}' ]; do sleep 0.05; done; echo {{id}} >> '{{ledger}}'; {{end}}"}{{rest}}],
                     "request_id": "{{id}}"}
                    """);
            }
            await ProcessorHost.WaitUntilAsync(() => Ended.All(id => File.Exists(Path.Combine(first.JobsRoot, id, "process"))), "the jobs to start");
            await first.StopAsync();
        }
        // The commands end while no Processor runs; their wrappers record how.
        await File.WriteAllTextAsync(gate, "");
        var root = Path.Combine(_state, "processor", "job");
        await ProcessorHost.WaitUntilAsync(() => Ended.All(id => File.Exists(Path.Combine(root, id, "exit_code.0"))), "the commands to end");

        await using var second = await ProcessorHost.StartAsync(_state);
        var one = await second.WaitStoppedAsync("one");
        Assert.Equal((JobStatus.Good, (StopReason?)null, (int?)0), (one.Status, one.Reason, one.ExitCode));
        var two = await second.WaitStoppedAsync("two");
        Assert.Equal((JobStatus.Good, (int?)0), (two.Status, two.ExitCode));
        var fails = await second.WaitStoppedAsync("fails");
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.ExitCode, (int?)3), (fails.Status, fails.Reason, fails.ExitCode));
        // Every command ran once: none again after the restart, and the one after the ended command ran.
        Assert.Equal(["fails", "one", "second", "two"], (await File.ReadAllLinesAsync(ledger)).Order());
    }

    [Fact]
    public async Task A_command_started_but_not_yet_recorded_when_the_processor_died_is_found_and_followed()
    {
        // What a Processor that died between starting command 2 and recording its pid leaves: command 1 ended with 0,
        // command 2 runs under the supervisor, and the process file still names command 1.
        var root = Path.Combine(_state, "processor", "job");
        var job = Path.Combine(root, "unrecorded");
        var gate = Path.Combine(_state, "go");
        var ledger = Path.Combine(_state, "ledger");
        Directory.CreateDirectory(Path.Combine(job, "work"));
        File.WriteAllText(Path.Combine(job, "spec.json"), $$"""
            {"commands": [{"exec": ["true"]}, {"exec": ["sh", "-c", "echo ran >> '{{ledger}}'"]}], "environment": {}, "request_id": "unrecorded"}
            """);
        File.WriteAllText(Path.Combine(job, "status"), """
            {"request_id": "unrecorded", "state": "running", "status": "unknown", "created_at": "2026-11-29T07:41:00Z", "started_at": "2026-11-29T07:41:00Z"}
            """);
        File.WriteAllText(Path.Combine(job, "log"), "");
        File.WriteAllText(Path.Combine(job, "exit_code.0"), "0\n");
        File.WriteAllText(Path.Combine(job, "process"), """{"command": 0, "pid": 1, "start_ticks": 1}""");
        var options = Microsoft.Extensions.Options.Options.Create(new ProcessorOptions { StateDirectory = _state });
        using (var client = new Jobs.SupervisorClient(options, Microsoft.Extensions.Logging.Abstractions.NullLogger<Jobs.SupervisorClient>.Instance))
        {
            await client.StartAsync(["sh", "-c", $"while [ ! -e '{gate}' ]; do sleep 0.05; done; echo ran >> '{ledger}'; echo done"],
                ["PATH=/usr/bin:/bin"], Path.Combine(job, "work"), Path.Combine(job, "log"), Path.Combine(job, "exit_code.1"), CancellationToken.None);
        }

        await using var host = await ProcessorHost.StartAsync(_state);
        Assert.Equal(JobState.Running, (await host.StatusAsync("unrecorded")).State);
        await File.WriteAllTextAsync(gate, "");
        var status = await host.WaitStoppedAsync("unrecorded");
        Assert.Equal((JobStatus.Good, (int?)0), (status.Status, status.ExitCode));
        Assert.Equal(["ran"], await File.ReadAllLinesAsync(ledger));
        Assert.Equal("done\n", await host.LogAsync("unrecorded"));
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
