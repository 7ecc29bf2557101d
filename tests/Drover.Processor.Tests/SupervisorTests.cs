using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>
/// The node's supervisor: it spawns each command directly (one exec), outlives the Processor and records exit codes
/// while no Processor runs, survives a kill of the Processor's process group, and goes away when it has nothing to do.
/// If it dies itself, the Processor takes its commands over.
/// </summary>
public sealed class SupervisorTests : IDisposable
{
    private readonly string _state = ProcessorHost.NewStateDirectory();

    public void Dispose() => ProcessorHost.DeleteDirectory(_state);

    [Fact]
    public async Task A_command_is_the_supervisors_own_child_with_the_users_argv_and_no_other_descriptor()
    {
        await using var host = await ProcessorHost.StartAsync(_state);
        var id = await host.SubmitAsync("""{"commands": [["sleep", "30"]]}""");
        var pid = await host.CommandPidAsync(id);

        // One exec: the user's argv itself, not a shell that runs it.
        Assert.Equal("sleep\u000030\u0000", await File.ReadAllTextAsync($"/proc/{pid}/cmdline"));
        var supervisor = ProcessorHost.SupervisorPid(_state);
        Assert.NotNull(supervisor);
        Assert.Equal(supervisor, ProcessorHost.ParentPid(pid));
        // Its own session and process group, as before; the supervisor in another session than the Processor's.
        Assert.Equal(pid, ProcessorHost.StatField(pid, 2));
        Assert.Equal(pid, ProcessorHost.StatField(pid, 3));
        Assert.NotEqual(ProcessorHost.StatField(Environment.ProcessId, 3), ProcessorHost.StatField(supervisor.Value, 3));
        Assert.Equal(supervisor, ProcessorHost.StatField(supervisor.Value, 3));
        // stdin, stdout and stderr, and nothing of the supervisor's (its socket, its lock) or the Processor's.
        Assert.Equal(["0", "1", "2"], Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Select(Path.GetFileName).Order());
        Assert.Equal("/dev/null", new FileInfo($"/proc/{pid}/fd/0").LinkTarget);
        Assert.Equal(Path.Combine(host.JobsRoot, id, "log"), new FileInfo($"/proc/{pid}/fd/1").LinkTarget);
        Assert.Equal(Path.Combine(host.JobsRoot, id, "log"), new FileInfo($"/proc/{pid}/fd/2").LinkTarget);
    }

    [Fact]
    public async Task A_state_directory_deeper_than_a_socket_address_holds_still_runs_jobs()
    {
        // Past sun_path's 107 bytes: the socket is reached through the directory's descriptor.
        var deep = Path.Combine(_state, new string('d', 60), new string('e', 60));
        Assert.True(Path.Combine(deep, "processor", "supervisor.sock").Length > 107);
        await using var host = await ProcessorHost.StartAsync(deep);
        var id = await host.SubmitAsync("""{"commands": [["sh", "-c", "exit 4"]]}""");
        var status = await host.WaitForAsync(id, s => s.State == JobState.Stopped);
        Assert.Equal(4, status.ExitCode);
        Assert.True(File.Exists(Path.Combine(deep, "processor", "supervisor.sock")));
    }

    [Fact]
    public async Task An_exit_code_is_recorded_while_the_processor_is_killed_and_the_next_one_reports_it()
    {
        // A real Processor process, as the leader of its own process group: SIGKILL to the whole group.
        var port = FreePort();
        var start = new ProcessStartInfo("setsid")
        {
            ArgumentList = { Path.Combine(AppContext.BaseDirectory, "Drover.Processor"), "--urls", $"http://127.0.0.1:{port}", "--Processor:StateDirectory", _state },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var root = Path.Combine(_state, "processor", "job");
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            await ProcessorHost.WaitUntilAsync(() => Answers(client), "the Processor to answer", 90);
            using var created = await client.PostAsync("/processor/jobs/new",
                new StringContent("""{"commands": [{"shell": "sleep 1; echo slept; exit 3"}, ["echo", "never"]], "request_id": "three"}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            await ProcessorHost.WaitUntilAsync(() => File.Exists(Path.Combine(root, "three", "process")), "the command to start");
            Assert.False(File.Exists(Path.Combine(root, "three", "exit_code.0")));
            using (var kill = Process.Start("kill", ["-KILL", "--", $"-{process.Id}"]))
                await kill.WaitForExitAsync();
            await process.WaitForExitAsync();
        }
        finally
        {
            if (!process.HasExited)
                process.Kill();
        }

        // No Processor runs now; the supervisor, in its own session, lives on and records how the command ended.
        await ProcessorHost.WaitUntilAsync(() => File.Exists(Path.Combine(root, "three", "exit_code.0")), "the exit code to be written");
        Assert.Equal("3\n", await File.ReadAllTextAsync(Path.Combine(root, "three", "exit_code.0")));

        await using var second = await ProcessorHost.StartAsync(_state);
        var status = await second.WaitStoppedAsync("three");
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.ExitCode, (int?)3), (status.Status, status.Reason, status.ExitCode));
        Assert.Equal("slept\n", await second.LogAsync("three"));
    }

    [Fact]
    public async Task A_supervisor_killed_under_a_running_command_leaves_its_exit_code_to_the_processor_and_new_jobs_still_run()
    {
        await using var host = await ProcessorHost.StartAsync(_state);
        var gate = Path.Combine(_state, "go");
        var id = await host.SubmitAsync($$"""{"commands": [{"shell": "while [ ! -e '{{gate}}' ]; do sleep 0.05; done; exit 3"}]}""");
        var pid = await host.CommandPidAsync(id);
        var supervisor = ProcessorHost.SupervisorPid(_state)!.Value;
        Assert.Equal(supervisor, ProcessorHost.ParentPid(pid));

        using (var kill = Process.Start("kill", ["-KILL", supervisor.ToString(System.Globalization.CultureInfo.InvariantCulture)])!)
            await kill.WaitForExitAsync();
        await ProcessorHost.WaitUntilAsync(() => !ProcessorHost.ProcessAlive(supervisor), "the supervisor to die");
        // The command lives on, now the Processor's child (it started that supervisor, and is a subreaper).
        await ProcessorHost.WaitUntilAsync(() => ProcessorHost.ParentPid(pid) == Environment.ProcessId, "the command to come to the Processor");
        Assert.Equal(JobState.Running, (await host.StatusAsync(id)).State);

        await File.WriteAllTextAsync(gate, "");
        var status = await host.WaitStoppedAsync(id);
        Assert.Equal((JobStatus.Error, (StopReason?)StopReason.ExitCode, (int?)3), (status.Status, status.Reason, status.ExitCode));
        Assert.Equal("3\n", await File.ReadAllTextAsync(Path.Combine(host.JobsRoot, id, "exit_code.0")));

        // A new supervisor runs the next commands.
        var next = await host.SubmitAsync("""{"commands": [["echo", "after"]]}""");
        var after = await host.WaitStoppedAsync(next);
        Assert.Equal(JobStatus.Good, after.Status);
        Assert.Equal("after\n", await host.LogAsync(next));
        var second = ProcessorHost.SupervisorPid(_state);
        Assert.NotNull(second);
        Assert.NotEqual(supervisor, second);
    }

    [Fact]
    public async Task No_supervisor_is_left_once_the_processor_stops_with_no_job_running()
    {
        await using (var host = await ProcessorHost.StartAsync(_state))
        {
            var id = await host.SubmitAsync("""{"commands": [["echo", "hello"]]}""");
            await host.WaitStoppedAsync(id);
            Assert.NotNull(ProcessorHost.SupervisorPid(_state));
            await host.StopAsync();
        }
        await ProcessorHost.WaitUntilAsync(() => ProcessorHost.SupervisorPid(_state) is null, "the supervisor to exit", 10);
        Assert.False(File.Exists(Path.Combine(_state, "processor", "supervisor.sock")));
    }

    [Fact]
    public async Task A_supervisor_with_a_command_running_waits_for_it_and_then_exits()
    {
        await using (var host = await ProcessorHost.StartAsync(_state))
        {
            await host.SubmitAsync("""{"commands": [["sleep", "4"]], "request_id": "slow"}""");
            await host.CommandPidAsync("slow");
            await host.StopAsync();
        }
        var supervisor = ProcessorHost.SupervisorPid(_state);
        Assert.NotNull(supervisor);
        await Task.Delay(TimeSpan.FromSeconds(2.5));
        Assert.True(ProcessorHost.ProcessAlive(supervisor.Value), "the supervisor left while its command ran");
        await ProcessorHost.WaitUntilAsync(() => File.Exists(Path.Combine(_state, "processor", "job", "slow", "exit_code.0")), "the command to end");
        await ProcessorHost.WaitUntilAsync(() => !ProcessorHost.ProcessAlive(supervisor.Value), "the supervisor to exit", 10);
    }

    private static bool Answers(HttpClient client)
    {
        try
        {
            using var response = client.GetAsync("/processor/info").GetAwaiter().GetResult();
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
