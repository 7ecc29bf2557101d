using System.Globalization;

namespace Drover.Bench;

/// <summary>
/// Resident memory (VmRSS) of each service process the benchmark started, and the part of it that is the process's
/// own (RssAnon + RssShmem): most of the rest are file pages of the .NET runtime's libraries, which every .NET process
/// on the machine shares.
/// </summary>
internal static class MemoryScenario
{
    public static Task RunAsync(ScenarioContext context, string when)
    {
        foreach (var service in context.Target.Services)
        {
            if (service.Process is not { HasExited: false } process)
                continue;
            var status = File.ReadLines($"/proc/{process.Id}/status")
                .Select(l => l.Split(':', 2))
                .Where(f => f.Length == 2 && f[1].EndsWith(" kB", StringComparison.Ordinal))
                .ToDictionary(f => f[0], f => double.Parse(f[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024, StringComparer.Ordinal);
            if (!status.TryGetValue("VmRSS", out var rss))
                continue;
            context.Report.Add($"memory.{when}.{service.Name}", rss, "MB");
            context.Report.Add($"memory.{when}.{service.Name}.own", status.GetValueOrDefault("RssAnon") + status.GetValueOrDefault("RssShmem"), "MB");
        }
        return Task.CompletedTask;
    }
}
