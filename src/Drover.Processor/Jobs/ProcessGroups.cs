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
    public static long? StartTicks(int pid) => Stat(pid) is { State: not ("Z" or "X") } stat ? stat.StartTicks : null;

    /// <summary>The parent of the process that started at <paramref name="startTicks"/>, zombie or not; null when it is gone.</summary>
    public static int? ParentOf(int pid, long startTicks) => Stat(pid) is { } stat && stat.StartTicks == startTicks ? stat.Parent : null;

    private static (string State, int Parent, long StartTicks)? Stat(int pid)
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
        if (fields.Length < 20
            || !int.TryParse(fields[1], NumberStyles.None, CultureInfo.InvariantCulture, out var parent)
            || !long.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
            return null;
        return (fields[0], parent, ticks);
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
