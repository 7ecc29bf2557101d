using System.Globalization;

namespace Drover.Bench;

/// <summary>Resident memory (VmRSS) of each service process the benchmark started.</summary>
internal static class MemoryScenario
{
    public static Task RunAsync(ScenarioContext context, string when)
    {
        foreach (var service in context.Target.Services)
        {
            if (service.Process is not { HasExited: false } process)
                continue;
            var line = File.ReadLines($"/proc/{process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
            if (line is null)
                continue;
            var kib = double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            context.Report.Add($"memory.{when}.{service.Name}", kib / 1024, "MB");
        }
        return Task.CompletedTask;
    }
}
