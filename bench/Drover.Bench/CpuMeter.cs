using System.Diagnostics;
using System.Globalization;

namespace Drover.Bench;

/// <summary>
/// CPU time of a process from /proc/PID/stat: its own (utime + stime) and that of its children it has reaped
/// (cutime + cstime). A Processor's commands are children of its supervisor, which reaps them, so the supervisor's
/// second figure is what the jobs' processes cost.
/// </summary>
internal readonly record struct CpuTimes(double OwnMs, double ChildrenMs)
{
    // /proc reports clock ticks of USER_HZ, which the kernel's ABI fixes at 100 on every Linux architecture .NET runs on.
    private const double MsPerTick = 1000.0 / 100;

    public static CpuTimes Zero => default;

    public static CpuTimes Of(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return Zero; // gone: it counts nothing from here on
        }
        // Fields after the command name (which may hold spaces and parentheses): state is field 3, utime 14 … cstime 17.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        double Ticks(int field) => double.Parse(fields[field - 3], CultureInfo.InvariantCulture);
        return new CpuTimes((Ticks(14) + Ticks(15)) * MsPerTick, (Ticks(16) + Ticks(17)) * MsPerTick);
    }

    public static CpuTimes operator -(CpuTimes after, CpuTimes before) =>
        new(after.OwnMs - before.OwnMs, after.ChildrenMs - before.ChildrenMs);
}

/// <summary>
/// The CPU each process spent over a measured stretch of a scenario: every service the benchmark started, the
/// Processors' commands (their reaped children) and the benchmark itself, reported per job next to the spawn floor
/// measured in the same run, so that a figure is always read against what this machine could do at best.
/// </summary>
internal sealed class CpuWindow
{
    private readonly IReadOnlyList<Service> _services;
    private readonly CpuTimes[] _before;
    private readonly int?[] _supervisors;
    private readonly CpuTimes[] _supervisorsBefore;
    private readonly CpuTimes _benchBefore;
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    private CpuWindow(IReadOnlyList<Service> services)
    {
        _services = services;
        _before = services.Select(Read).ToArray();
        _supervisors = services.Select(SupervisorOf).ToArray();
        _supervisorsBefore = _supervisors.Select(pid => pid is { } p ? CpuTimes.Of(p) : CpuTimes.Zero).ToArray();
        _benchBefore = CpuTimes.Of(Environment.ProcessId);
    }

    /// <summary>Starts measuring the services of <paramref name="target"/> (none when the system runs elsewhere: then only the benchmark).</summary>
    public static CpuWindow Start(Target target) => new(target.Services);

    private static CpuTimes Read(Service service) => service.Process is { } p ? CpuTimes.Of(p.Id) : CpuTimes.Zero;

    /// <summary>
    /// The supervisor of a Processor the benchmark started: the process in <c>supervise</c> mode on the socket in that
    /// Processor's state directory (read from its command line). Null for any other service, or when none runs.
    /// </summary>
    internal static int? SupervisorOf(Service service)
    {
        if (service.Process is not { } process || !service.Name.StartsWith("processor", StringComparison.Ordinal))
            return null;
        var state = Arguments(process.Id).Select(a => a.StartsWith("--Processor:StateDirectory=", StringComparison.Ordinal) ? a[27..] : null)
            .FirstOrDefault(a => a is not null);
        if (state is null)
            return null;
        var socket = Path.Combine(state, "processor", "supervisor.sock");
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && Arguments(pid) is var argv && argv.Contains("supervise") && argv.Contains(socket))
                return pid;
        }
        return null;
    }

    private static string[] Arguments(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    /// <summary>Adds <c>{prefix}.cpu_ms_per_job.*</c> for <paramref name="jobs"/> jobs, and the floor beside them.</summary>
    public void Report(Report report, string prefix, int jobs)
    {
        var elapsed = _clock.Elapsed;
        var bench = CpuTimes.Of(Environment.ProcessId) - _benchBefore;
        double PerJob(double ms) => ms / Math.Max(1, jobs);
        var total = 0.0;
        for (var i = 0; i < _services.Count; i++)
        {
            if (_services[i].Process is null)
                continue;
            var spent = Read(_services[i]) - _before[i];
            report.Add($"{prefix}.cpu_ms_per_job.{_services[i].Name}", PerJob(spent.OwnMs), "ms");
            total += spent.OwnMs;
            // Only a Processor has children worth naming: its supervisor, and the commands the supervisor ran (one exec
            // each); the Processor's own children are the commands of a supervisor that died, which it adopted.
            if (_services[i].Name.StartsWith("processor", StringComparison.Ordinal))
            {
                var supervisor = _supervisors[i] is { } pid ? CpuTimes.Of(pid) - _supervisorsBefore[i] : CpuTimes.Zero;
                report.Add($"{prefix}.cpu_ms_per_job.{_services[i].Name}_supervisor", PerJob(supervisor.OwnMs), "ms");
                report.Add($"{prefix}.cpu_ms_per_job.{_services[i].Name}_children", PerJob(spent.ChildrenMs + supervisor.ChildrenMs), "ms");
                total += spent.ChildrenMs + supervisor.OwnMs + supervisor.ChildrenMs;
            }
        }
        report.Add($"{prefix}.cpu_ms_per_job.bench", PerJob(bench.OwnMs), "ms");
        total += bench.OwnMs;
        report.Add($"{prefix}.cpu_ms_per_job.total", PerJob(total), "ms");
        // Against the machine: how much of the wall time both cores were busy, all processes together.
        report.Add($"{prefix}.cpu_busy", 100 * total / (elapsed.TotalMilliseconds * Environment.ProcessorCount), "%");
        FloorScenario.ReportBeside(report, prefix);
    }
}
