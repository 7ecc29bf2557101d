using System.Diagnostics;

namespace Drover.Bench;

/// <summary>
/// The floor: how many <c>/bin/true</c> processes .NET starts and reaps per second on this machine at a given
/// concurrency. No scheduler can run trivial jobs faster than this, so end-to-end figures are read against it.
/// </summary>
internal static class FloorScenario
{
    public static double? SpawnsPerSecond { get; private set; }

    public static async Task RunAsync(ScenarioContext context)
    {
        var workers = context.Options.Processors * context.Options.SlotsPerProcessor;
        var duration = TimeSpan.FromSeconds(context.Options.Quick ? 1 : 5);
        long spawned = 0;
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
        SpawnsPerSecond = spawned / clock.Elapsed.TotalSeconds;
        context.Report.Add($"floor.spawns_per_s.c{workers}", SpawnsPerSecond.Value, "processes/s");
    }
}
