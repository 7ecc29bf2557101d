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
            Add(context.Report, $"memory.{when}.{service.Name}", process.Id);
            // A Processor's supervisor is part of the node: its own figure beside the Processor's.
            if (CpuWindow.SupervisorOf(service) is { } supervisor)
                Add(context.Report, $"memory.{when}.{service.Name}_supervisor", supervisor);
        }
        return Task.CompletedTask;
    }

    private static void Add(Report report, string name, int pid)
    {
        Dictionary<string, double> status;
        try
        {
            status = File.ReadLines($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/status")
                .Select(l => l.Split(':', 2))
                .Where(f => f.Length == 2 && f[1].EndsWith(" kB", StringComparison.Ordinal))
                .ToDictionary(f => f[0], f => double.Parse(f[1].Trim().Split(' ')[0], CultureInfo.InvariantCulture) / 1024, StringComparer.Ordinal);
        }
        catch (IOException)
        {
            return; // gone
        }
        if (!status.TryGetValue("VmRSS", out var rss))
            return;
        report.Add(name, rss, "MB");
        report.Add($"{name}.own", status.GetValueOrDefault("RssAnon") + status.GetValueOrDefault("RssShmem"), "MB");
    }
}
