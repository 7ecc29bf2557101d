using System.Globalization;
using System.Runtime.InteropServices;

namespace Drover.Processor.Jobs;

/// <summary>Signals to a job's process group, and recognising a process again after the Processor restarted.</summary>
internal static partial class ProcessGroups
{
    public const int SigTerm = 15;
    public const int SigKill = 9;

    /// <summary>Sends a signal to every process of the group; a group that is already gone is not an error.</summary>
    public static void Signal(int processGroup, int signal)
    {
        if (processGroup > 1)
            _ = Kill(-processGroup, signal);
    }

    /// <summary>
    /// The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), which together with the pid
    /// names one process for good: a pid reused by another process has another start time. Null when it is gone or a zombie.
    /// </summary>
    public static long? StartTicks(int pid)
    {
        string stat;
        try
        {
            stat = File.ReadAllText($"/proc/{pid.ToString(CultureInfo.InvariantCulture)}/stat");
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
        // The command name in parentheses may itself hold spaces and parentheses: fields start after the last ')'.
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        if (fields.Length < 20 || fields[0] is "Z" or "X")
            return null;
        return long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
    }

    /// <summary>
    /// Every command wrapper alive on this machine (<c>/bin/sh -c WRAPPER drover-job LOG EXIT_CODE_FILE ...</c>, see
    /// <see cref="JobRunner"/>), by the exit code file it will write: how a restarted Processor finds a command whose
    /// pid it did not get to record. Read once at start-up.
    /// </summary>
    public static Dictionary<string, ProcessRecord> FindWrappers()
    {
        var found = new Dictionary<string, ProcessRecord>(StringComparer.Ordinal);
        IEnumerable<string> entries;
        try
        {
            entries = Directory.EnumerateDirectories("/proc");
        }
        catch (IOException)
        {
            return found;
        }
        foreach (var entry in entries)
        {
            if (!int.TryParse(Path.GetFileName(entry), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
                continue;
            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (argv is ["/bin/sh", "-c", _, JobRunner.WrapperName, _, var exitCodePath, ..] && StartTicks(pid) is { } ticks)
                found[exitCodePath] = new ProcessRecord(-1, pid, ticks);
        }
        return found;
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
