using System.Diagnostics;

namespace Drover.Bench;

/// <summary>
/// The floor: how many <c>/bin/true</c> processes .NET starts and reaps per second on this machine at a given
/// concurrency, and what each costs in CPU. No scheduler can run trivial jobs faster or cheaper than this, so every
/// rate and CPU figure is printed beside the floor measured in the same run (a floor from another run, on a machine
/// that was busy otherwise, says nothing about this one).
/// </summary>
internal static class FloorScenario
{
    public static double? SpawnsPerSecond { get; private set; }

    /// <summary>The CPU one spawn costs: this process's share (starting and reaping) and the child's own.</summary>
    public static CpuTimes? CpuPerSpawn { get; private set; }

    public static async Task RunAsync(ScenarioContext context)
    {
        var workers = context.Options.Processors * context.Options.SlotsPerProcessor;
        var duration = TimeSpan.FromSeconds(context.Options.Quick ? 1 : 5);
        long spawned = 0;
        var before = CpuTimes.Of(Environment.ProcessId);
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            while (clock.Elapsed < duration)
            {
                using var process = Process.Start(new ProcessStartInfo("/bin/true") { UseShellExecute = false })!;
                await process.WaitForExitAsync();
                Interlocked.Increment(ref spawned);
            }
        })));
        var spent = CpuTimes.Of(Environment.ProcessId) - before;
        SpawnsPerSecond = spawned / clock.Elapsed.TotalSeconds;
        CpuPerSpawn = new CpuTimes(spent.OwnMs / Math.Max(1, spawned), spent.ChildrenMs / Math.Max(1, spawned));
        context.Report.Add($"floor.spawns_per_s.c{workers}", SpawnsPerSecond.Value, "processes/s");
        context.Report.Add("floor.cpu_ms_per_spawn.parent", CpuPerSpawn.Value.OwnMs, "ms");
        context.Report.Add("floor.cpu_ms_per_spawn.child", CpuPerSpawn.Value.ChildrenMs, "ms");
    }

    /// <summary>Measures the floor now unless this run has already (say, under <c>--only e2e</c>).</summary>
    public static async Task EnsureMeasuredAsync(ScenarioContext context)
    {
        if (SpawnsPerSecond is null)
            await RunAsync(context);
    }

    /// <summary>The floor of this run under <paramref name="prefix"/>, so that a figure is never read without it.</summary>
    public static void ReportBeside(Report report, string prefix)
    {
        if (SpawnsPerSecond is { } rate)
            report.Add($"{prefix}.floor.spawns_per_s", rate, "processes/s");
        if (CpuPerSpawn is { } cpu)
            report.Add($"{prefix}.floor.cpu_ms_per_spawn", cpu.OwnMs + cpu.ChildrenMs, "ms");
    }
}
