using System.Globalization;

namespace Drover.Processor.Jobs;

/// <summary>
/// One command of a job while it runs: the leader of its own process group (started in a new session, so its pid is
/// the group id), and a task that completes with its exit code, or null when that cannot be known.
/// </summary>
internal sealed class RunningCommand
{
    private RunningCommand(int index, int processGroup, Task<int?> exited)
    {
        Index = index;
        ProcessGroup = processGroup;
        Exited = exited;
    }

    public int Index { get; }
    public int ProcessGroup { get; }
    public Task<int?> Exited { get; }

    /// <summary>A command this Processor started: its exit code comes from the kernel.</summary>
    public static RunningCommand Own(int index, int pid) => new(index, pid, WaitAsync(pid));

    /// <summary>
    /// A command started by an earlier Processor that still runs. It is not our child, so nothing tells us when it
    /// ends: poll it (a few times a second) and then read the exit code its wrapper wrote, if it got to write one.
    /// </summary>
    public static RunningCommand Attach(int index, int pid, long startTicks, string exitCodePath, TimeProvider time, CancellationToken detach) =>
        new(index, pid, PollAsync(pid, startTicks, exitCodePath, time, detach));

    public void Signal(int signal) => ProcessGroups.Signal(ProcessGroup, signal);

    private static async Task<int?> WaitAsync(int pid) => await Spawner.WaitAsync(pid);

    private static async Task<int?> PollAsync(int pid, long startTicks, string exitCodePath, TimeProvider time, CancellationToken detach)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(250), time);
        while (ProcessGroups.StartTicks(pid) == startTicks)
            await timer.WaitForNextTickAsync(detach);
        return ReadExitCode(exitCodePath);
    }

    public static int? ReadExitCode(string path)
    {
        try
        {
            return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var code) ? code : null;
        }
        catch (IOException)
        {
            return null;
        }
    }
}
