using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Xunit.Abstractions;

namespace Drover.Chaos.Tests;

/// <summary>
/// Faults injected while jobs are submitted and run, one scenario a test, on one system of separate processes; after
/// each, <see cref="Checker"/> asserts that nothing was lost or run twice and that nothing was left behind, and the
/// scenario prints its figures (shown with <c>--logger "console;verbosity=detailed"</c>).
/// </summary>
[Collection(ChaosRun.Name)]
public sealed class ChaosTests(ChaosSystem system, ITestOutputHelper output)
{
    [Fact]
    public async Task Scheduler_killed_and_restarted_three_times_while_jobs_are_submitted_loses_nothing_and_runs_nothing_twice()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        var submitting = workload.SubmitAsync(40);
        for (var i = 0; i < 3; i++)
        {
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await system.Scheduler.RestartAsync();
        }
        await submitting;
        Report(await Checker.CheckAsync(system, workload, "scheduler_kills", faults: 3, clock));
    }

    [Fact]
    public async Task Each_processor_killed_while_its_jobs_run_finishes_them_after_its_restart()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        var submitting = workload.SubmitAsync(24);
        foreach (var processor in system.Processors)
        {
            // Work in progress on this node when it dies: commands that end while it is down, and later commands to run.
            await OnNodeAsync(workload, processor.Name);
            await processor.Service.KillAsync();
            await Task.Delay(TimeSpan.FromSeconds(1.5));
            await processor.Service.StartAsync();
        }
        await submitting;
        Report(await Checker.CheckAsync(system, workload, "processor_kills", faults: system.Processors.Count, clock));
    }

    [Fact]
    public async Task Gateway_and_shell_node_killed_and_restarted_lose_nothing()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        var submitting = workload.SubmitAsync(24);
        await Task.Delay(TimeSpan.FromSeconds(1));
        await system.Gateway.RestartAsync();
        await OnNodeAsync(workload, "shell");
        await system.Shell.KillAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        await system.Shell.StartAsync();
        await submitting;
        Report(await Checker.CheckAsync(system, workload, "gateway_and_shell_kills", faults: 2, clock));
    }

    /// <summary>Jobs of one and of three commands placed on the node, until they run there.</summary>
    private async Task OnNodeAsync(Workload workload, string node)
    {
        var jobs = new List<long>();
        foreach (var kind in new[] { JobKind.OneCommand, JobKind.Multi, JobKind.OneCommand, JobKind.Multi })
            jobs.AddRange((await workload.SubmitOneAsync(kind, node, kind == JobKind.OneCommand ? $"{workload.Line(0)}; sleep 1" : null)).JobIds);
        await WaitAsync(async () => (await system.JobAsync(jobs[^1])).State == JobState.Running, 60, $"jobs to run on {node}");
    }

    [Fact]
    public async Task A_processor_stopped_with_SIGSTOP_is_re_placed_once_lost_and_its_old_attempts_are_killed_when_it_returns()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        var p2 = system.Processors[1];
        // Long enough to still run when p2 comes back: an old attempt that got to its last line finished there.
        var script = $"{workload.Line(0)}; sleep 12; {workload.Line(1)}";
        var pinned = new List<Submitted>();
        for (var i = 0; i < 3; i++)
            pinned.Add(await workload.SubmitOneAsync(JobKind.OneCommand, node: p2.Name, script: script, lines: 2));
        await WaitAsync(async () => (await system.JobAsync(pinned[^1].JobIds[0])).State == JobState.Running, 60, "jobs to run on p2");
        await p2.Service.PauseAsync();
        var others = workload.SubmitAsync(12);
        // Declared lost only once it missed its heartbeats and a call to it timed out; then its attempts go elsewhere.
        await WaitAsync(async () => (await system.NodesAsync()).Any(n => n.Name == p2.Name && n.Health == NodeHealth.Down), 30, "p2 to be down");
        await WaitAsync(async () => (await system.SchedulerClient.GetFromJsonAsync<NodeViewList>("scheduler/nodes", DroverJson.Options))!
            .Nodes.Single(n => n.Name == p2.Name).Running == 0, 30, "p2's attempts to be re-placed");
        await p2.Service.ResumeAsync();
        await others;
        var figures = await Checker.CheckAsync(system, workload, "processor_sigstop", faults: 1, clock);

        // Never two live runs: an attempt lost with p2 never got to its last line once p2 was back.
        var ledger = await File.ReadAllLinesAsync(system.Ledger);
        foreach (var id in pinned.SelectMany(s => s.JobIds))
        {
            var record = await system.JobAsync(id);
            foreach (var lost in record.Attempts.Where(a => a.Reason == StopReason.NodeLost))
                Assert.DoesNotContain($"{id} {lost.Number} 1", ledger);
        }
        Report(figures);
    }

    [Fact]
    public async Task Kills_accepted_across_a_scheduler_restart_and_an_unreachable_node_leave_no_process_behind()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        var p1 = system.Processors[0];
        var script = $"{workload.Line(0)}; sleep 300 & sleep 300; wait";
        var jobs = new List<long>();
        for (var i = 0; i < 3; i++)
            jobs.AddRange((await workload.SubmitOneAsync(JobKind.OneCommand, node: p1.Name, script: script)).JobIds);
        foreach (var id in jobs)
            await WaitAsync(async () => (await system.JobAsync(id)).State == JobState.Running, 60, $"job {id} to run");

        // A kill sent as the scheduler dies: the client sends it again until it is answered.
        var first = KillAsync(jobs[0]);
        await Task.Delay(20);
        await system.Scheduler.RestartAsync();
        await first;
        // Kills accepted while the node does not answer, carried out once it is back (after it was declared lost).
        await p1.Service.PauseAsync();
        await Task.WhenAll(KillAsync(jobs[1]), KillAsync(jobs[2]));
        await WaitAsync(async () => (await system.JobAsync(jobs[2])).State == JobState.Stopped, 60, "the kill to be recorded");
        await p1.Service.ResumeAsync();

        Report(await Checker.CheckAsync(system, workload, "kills_across_faults", faults: 2, clock, killed: jobs.Contains));
    }

    [SkippableFact]
    public async Task A_processor_whose_state_directory_is_full_refuses_jobs_with_507_and_writes_nothing_half()
    {
        Skip.IfNot(Environment.UserName == "root", "mounting the small tmpfs the Processor's state directory fills up on needs root (CI runs as root)");
        var clock = Stopwatch.StartNew();
        var mount = Directory.CreateDirectory(Path.Combine(system.Directory, "full")).FullName;
        Skip.IfNot(await RunAsync("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount) == 0, "mount -t tmpfs failed here (no CAP_SYS_ADMIN)");
        var p3 = system.NewProcessor("p3", Path.Combine(mount, "state"));
        try
        {
            await p3.Service.StartAsync();
            await system.WaitForNodesAsync([p3.Name]);
            var filler = Path.Combine(mount, "filler");
            await RunAsync("dd", "if=/dev/zero", $"of={filler}", "bs=64k");
            using var node = new HttpClient { BaseAddress = p3.Url };
            node.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", system.NodeToken);
            var jobsRoot = Path.Combine(p3.StateDirectory, "processor", "job");
            var before = Directory.GetFileSystemEntries(jobsRoot);

            using (var json = await node.PostAsync("processor/jobs/new", new StringContent(
                """{"commands": [["true"]], "request_id": "full-json"}""", Encoding.UTF8, "application/json")))
                await AssertFullAsync(json);
            var form = new MultipartFormDataContent
            {
                { new StringContent("""{"commands": [["true"]], "request_id": "full-upload"}""", Encoding.UTF8, "application/json"), "spec" },
                { new ByteArrayContent(new byte[256 * 1024]), "file", "big.bin" },
            };
            using (var upload = await node.PostAsync("processor/jobs/new", form))
                await AssertFullAsync(upload);
            Assert.Equal(before, Directory.GetFileSystemEntries(jobsRoot));
            using (var unknown = await node.GetAsync("processor/jobs/full-json/status"))
                Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

            // Jobs for the full node wait (the scheduler backs off from a 507 as from a full node) and run once it has room.
            var workload = new Workload(system);
            var waiting = Enumerable.Range(0, 4).Select(_ => workload.SubmitOneAsync(JobKind.OneCommand, node: p3.Name)).ToList();
            await Task.WhenAll(waiting);
            await Task.Delay(TimeSpan.FromSeconds(2));
            foreach (var id in workload.JobIds)
            {
                var record = await system.JobAsync(id);
                Assert.True(record.State != JobState.Stopped, $"job {id} for the full node stopped {record.Reason}: {string.Join("; ", record.Attempts.Select(a => $"{a.Reason} {a.Message}"))}");
            }
            File.Delete(filler);
            Report(await Checker.CheckAsync(system, workload, "full_state_directory", faults: 1, clock));
            using var drain = await system.SchedulerClient.PostAsync($"scheduler/nodes/{p3.Name}/drain", null);
        }
        finally
        {
            await p3.Service.DisposeAsync();
            await RunAsync("umount", "-l", mount);
        }
    }

    [Fact]
    public async Task A_scheduler_restarted_on_a_database_copied_mid_write_finishes_every_job_it_holds()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(system);
        await workload.SubmitAsync(30);
        // While the jobs are placed and stop (the scheduler writes all the time), copy the database as a careless
        // backup would: the file, then its write-ahead log, with writes going on in between.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var copy = Directory.CreateDirectory(Path.Combine(system.Directory, "copy-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        foreach (var suffix in new[] { "", "-wal" })
            if (File.Exists(system.Database + suffix))
                File.Copy(system.Database + suffix, Path.Combine(copy, "scheduler.db" + suffix));
        await system.Scheduler.KillAsync();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
            File.Delete(system.Database + suffix);
        foreach (var suffix in new[] { "", "-wal" })
            if (File.Exists(Path.Combine(copy, "scheduler.db" + suffix)))
                File.Copy(Path.Combine(copy, "scheduler.db" + suffix), system.Database + suffix);
        await system.Scheduler.StartAsync();
        Report(await Checker.CheckAsync(system, workload, "database_copied_mid_write", faults: 1, clock));
    }

    [SkippableFact]
    public async Task Soak_runs_every_scenario_again_and_again_for_the_minutes_asked()
    {
        var minutes = Environment.GetEnvironmentVariable("DROVER_CHAOS_SOAK_MINUTES");
        Skip.If(string.IsNullOrEmpty(minutes), "set DROVER_CHAOS_SOAK_MINUTES=N to soak for N minutes (before a release)");
        var until = DateTime.UtcNow.AddMinutes(double.Parse(minutes, System.Globalization.CultureInfo.InvariantCulture));
        var rounds = 0;
        while (DateTime.UtcNow < until)
        {
            rounds++;
            await Scheduler_killed_and_restarted_three_times_while_jobs_are_submitted_loses_nothing_and_runs_nothing_twice();
            await Each_processor_killed_while_its_jobs_run_finishes_them_after_its_restart();
            await Gateway_and_shell_node_killed_and_restarted_lose_nothing();
            await A_processor_stopped_with_SIGSTOP_is_re_placed_once_lost_and_its_old_attempts_are_killed_when_it_returns();
            await Kills_accepted_across_a_scheduler_restart_and_an_unreachable_node_leave_no_process_behind();
            await A_scheduler_restarted_on_a_database_copied_mid_write_finishes_every_job_it_holds();
        }
        output.WriteLine($"chaos.soak: rounds={rounds} minutes={minutes}");
    }

    private void Report(Figures figures)
    {
        output.WriteLine(figures.ToString());
        ChaosRun.Record(figures);
    }

    private static async Task AssertFullAsync(HttpResponseMessage response)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode is HttpStatusCode.InsufficientStorage or HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty("state_directory", out _), body);
    }

    private async Task KillAsync(long id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            try
            {
                using var response = await system.GatewayClient.PostAsync($"scheduler/jobs/{id}/kill", null);
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"the kill of job {id} was not accepted within 60 s");
            await Task.Delay(250);
        }
    }

    internal static async Task WaitAsync(Func<Task<bool>> condition, int seconds, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            try
            {
                if (await condition())
                    return;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(100);
        }
    }

    private static async Task<int> RunAsync(string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return process.ExitCode;
    }
}

/// <summary>One system for every scenario (starting five services is the slow part), and the figures of all of them.</summary>
[CollectionDefinition(Name)]
public sealed class ChaosRun : ICollectionFixture<ChaosSystem>
{
    public const string Name = "chaos";
    private static readonly List<Figures> All = [];

    public static void Record(Figures figures)
    {
        lock (All)
        {
            All.Add(figures);
            // Also on the test host's own output, so that a plain `dotnet test` run shows them.
            Console.WriteLine(figures);
        }
    }
}
