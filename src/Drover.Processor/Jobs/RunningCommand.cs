using System.Globalization;

namespace Drover.Processor.Jobs;

/// <summary>
/// One command of a job while it runs: the leader of its own process group (started in a new session, so its pid is
/// the group id), and a task that completes with its exit code, or null when that cannot be known.
/// </summary>
internal sealed class RunningCommand(int index, int processGroup, Task<int?> exited)
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(250);

    public int Index { get; } = index;
    public int ProcessGroup { get; } = processGroup;
    public Task<int?> Exited { get; } = exited;

    /// <summary>A command under the supervisor: the supervisor reports its exit code.</summary>
    public static RunningCommand Supervised(int index, Supervised command) => new(index, command.Pid, command.Exited);

    /// <summary>
    /// A command started by an earlier Processor that still runs, but that no supervisor waits for any more (it died
    /// while no Processor ran): follow it to its end, see <see cref="FollowAsync"/>.
    /// </summary>
    public static RunningCommand Attach(int index, int pid, long startTicks, string exitCodePath, TimeProvider time, CancellationToken detach) =>
        new(index, pid, FollowAsync(pid, startTicks, exitCodePath, time, detach));

    public void Signal(int signal) => ProcessGroups.Signal(ProcessGroup, signal);

    /// <summary>
    /// Follows a command whose supervisor is gone. If it came to this Processor (a subreaper, when the supervisor was
    /// its child), it is reaped here and its exit code written to its file as the supervisor would have. Otherwise
    /// nothing tells us when it ends: poll it (a few times a second) and then read the exit code file, which only a
    /// supervisor that was still there can have written; null when none did.
    /// </summary>
    public static async Task<int?> FollowAsync(int pid, long startTicks, string exitCodePath, TimeProvider time, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(PollInterval, time);
        while (true)
        {
            if (ProcessGroups.ParentOf(pid, startTicks) == Environment.ProcessId)
            {
                var exitCode = await Spawner.WaitAsync(pid);
                try
                {
                    Supervisor.WriteExitCode(exitCodePath, exitCode);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The job's directory is gone; the exit code still reaches the job.
                }
                return exitCode;
            }
            if (ProcessGroups.StartTicks(pid) != startTicks)
                break;
            await timer.WaitForNextTickAsync(cancellationToken);
        }
        // A supervisor writes the file just after it reaps the command: give one that was doing so a moment.
        for (var attempt = 0; attempt < 4; attempt++)
        {
            if (ReadExitCode(exitCodePath) is { } code)
                return code;
            await timer.WaitForNextTickAsync(cancellationToken);
        }
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
