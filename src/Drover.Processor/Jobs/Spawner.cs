using System.Runtime.InteropServices;

namespace Drover.Processor.Jobs;

/// <summary>
/// Starts a process with posix_spawn(3) as the leader of a new session and process group (POSIX_SPAWN_SETSID), with
/// stdin from /dev/null and stdout and stderr both on one file opened for append, and waits for it.
/// System.Diagnostics.Process cannot make a new session, so it took an extra exec of setsid(1) per command;
/// posix_spawn does it, the redirections and the chdir in the same vfork-like clone, which matters when a node runs
/// hundreds of short jobs a second. Needs glibc 2.34 or later (addchdir_np, addclosefrom_np; Debian 12 and later).
/// </summary>
internal static unsafe partial class Spawner
{
    private const int SetSignalDefaults = 0x04; // POSIX_SPAWN_SETSIGDEF
    private const int SetSignalMask = 0x08;     // POSIX_SPAWN_SETSIGMASK
    private const int SetSession = 0x80;        // POSIX_SPAWN_SETSID
    private const int Interrupted = 4;          // EINTR
    private const int NoChild = 10;             // ECHILD
    private const int ReadOnly = 0;             // O_RDONLY
    private const int AppendOrCreate = 0x1 | 0x40 | 0x400; // O_WRONLY | O_CREAT | O_APPEND

    // Signals the .NET runtime may ignore or handle in this process; the child starts with the default action for
    // each (an ignored SIGPIPE, say, would otherwise be inherited across exec and change how pipelines end).
    private static readonly int[] DefaultSignals = [1, 2, 3, 10, 12, 13, 14, 15, 17, 18, 20, 21, 22, 28];

    // glibc's posix_spawnattr_t is 336 bytes and posix_spawn_file_actions_t 80 on x86-64; sigset_t is 128. Room to spare.
    private const int OpaqueSize = 1024;

    /// <summary>
    /// Starts <paramref name="path"/> (no PATH search; a relative one is taken from <paramref name="workingDirectory"/>)
    /// and returns its pid, which is also its process group id. Its stdout and stderr are one file descriptor on
    /// <paramref name="outputPath"/>, so the file has the output in exactly the order it was written, which copying two
    /// pipes could not promise. No other descriptor is inherited.
    /// </summary>
    /// <param name="environment">The whole environment, as <c>NAME=value</c>.</param>
    public static int Start(string path, IReadOnlyList<string> argv, IEnumerable<string> environment, string workingDirectory, string outputPath)
    {
        var strings = new List<IntPtr>();
        var attributes = NativeMemory.AllocZeroed(OpaqueSize);
        var actions = NativeMemory.AllocZeroed(OpaqueSize);
        var signals = NativeMemory.AllocZeroed(OpaqueSize);
        try
        {
            var arguments = NullTerminated(argv, strings);
            var variables = NullTerminated(environment, strings);
            Check(SpawnAttrInit(attributes), "posix_spawnattr_init");
            Check(SigEmptySet(signals), "sigemptyset");
            Check(SpawnAttrSetSigMask(attributes, signals), "posix_spawnattr_setsigmask");
            foreach (var signal in DefaultSignals)
                Check(SigAddSet(signals, signal), "sigaddset");
            Check(SpawnAttrSetSigDefault(attributes, signals), "posix_spawnattr_setsigdefault");
            Check(SpawnAttrSetFlags(attributes, SetSession | SetSignalMask | SetSignalDefaults), "posix_spawnattr_setflags");
            Check(FileActionsInit(actions), "posix_spawn_file_actions_init");
            Check(FileActionsAddOpen(actions, 0, "/dev/null", ReadOnly, 0), "posix_spawn_file_actions_addopen");
            Check(FileActionsAddOpen(actions, 1, outputPath, AppendOrCreate, Convert.ToInt32("600", 8)), "posix_spawn_file_actions_addopen");
            Check(FileActionsAddDup2(actions, 1, 2), "posix_spawn_file_actions_adddup2");
            Check(FileActionsAddChdir(actions, workingDirectory), "posix_spawn_file_actions_addchdir_np");
            // .NET opens everything close-on-exec, but a process may inherit descriptors that are not (a test runner's
            // pipes, say): none reaches the child, where one could keep a pipe open for its reader forever.
            Check(FileActionsAddCloseFrom(actions, 3), "posix_spawn_file_actions_addclosefrom_np");
            int pid;
            var error = Spawn(&pid, path, actions, attributes, arguments, variables);
            if (error != 0)
                throw new IOException($"cannot start {path} in {workingDirectory}: {Marshal.GetPInvokeErrorMessage(error)}");
            return pid;
        }
        finally
        {
            _ = FileActionsDestroy(actions);
            _ = SpawnAttrDestroy(attributes);
            NativeMemory.Free(actions);
            NativeMemory.Free(attributes);
            NativeMemory.Free(signals);
            foreach (var pointer in strings)
                Marshal.FreeCoTaskMem(pointer);
        }
    }

    /// <summary>
    /// Completes with the child's exit code (128 + the signal for a child killed by one, as a shell reports it).
    /// Reaped with waitpid of this pid only, so the .NET runtime's own children are left alone: the Processor reaps
    /// so the supervisor it started, and commands that came to it when their supervisor died. waitpid blocks, so each
    /// child needs a thread for the time it runs; the threads are kept and reused.
    /// </summary>
    public static Task<int> WaitAsync(int pid)
    {
        var exited = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_waits.Add((pid, exited));
        // Claim an idle reaper for this child, or start one: every queued child must have a thread on its way to it,
        // or its exit would wait for another child's.
        if (Interlocked.Decrement(ref s_idleReapers) < 0)
        {
            Interlocked.Increment(ref s_idleReapers);
            new Thread(Reap) { IsBackground = true, Name = "drover-reaper" }.Start();
        }
        return exited.Task;
    }

    /// <summary>
    /// Blocks until any child ends and returns its pid and exit code; null when there is no child at all. Only for
    /// the supervisor, which has no children but the commands (and what they leave behind, as their subreaper).
    /// </summary>
    public static (int Pid, int ExitCode)? WaitAny()
    {
        int status;
        int pid;
        while ((pid = WaitPid(-1, &status, 0)) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno == NoChild)
                return null;
            if (errno != Interrupted)
                throw new IOException($"waitpid failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return (pid, ExitCode(status));
    }

    private static readonly System.Collections.Concurrent.BlockingCollection<(int Pid, TaskCompletionSource<int> Exited)> s_waits = [];
    private static int s_idleReapers;

    private static void Reap()
    {
        while (true)
        {
            var (pid, exited) = s_waits.Take();
            try
            {
                exited.TrySetResult(WaitPid(pid));
            }
            catch (IOException e)
            {
                exited.TrySetException(e);
            }
            Interlocked.Increment(ref s_idleReapers);
        }
    }

    private static int WaitPid(int pid)
    {
        int status;
        while (WaitPid(pid, &status, 0) < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno != Interrupted)
                throw new IOException($"waitpid({pid}) failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        }
        return ExitCode(status);
    }

    private static int ExitCode(int status)
    {
        var signal = status & 0x7f;
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
    }

    private static IntPtr* NullTerminated(IEnumerable<string> values, List<IntPtr> strings)
    {
        var first = strings.Count;
        foreach (var value in values)
            strings.Add(Marshal.StringToCoTaskMemUTF8(value));
        var count = strings.Count - first;
        var array = (IntPtr*)Marshal.AllocCoTaskMem((count + 1) * sizeof(IntPtr));
        for (var i = 0; i < count; i++)
            array[i] = strings[first + i];
        array[count] = IntPtr.Zero;
        strings.Add((IntPtr)array);
        return array;
    }

    private static void Check(int result, string call)
    {
        // posix_spawn* return the error number; sig* return -1 and set errno.
        if (result != 0)
            throw new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(result > 0 ? result : Marshal.GetLastPInvokeError())}");
    }

    [LibraryImport("libc", EntryPoint = "posix_spawn", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Spawn(int* pid, string path, void* fileActions, void* attributes, IntPtr* argv, IntPtr* envp);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_init")]
    private static partial int SpawnAttrInit(void* attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_destroy")]
    private static partial int SpawnAttrDestroy(void* attributes);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setflags")]
    private static partial int SpawnAttrSetFlags(void* attributes, short flags);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigmask")]
    private static partial int SpawnAttrSetSigMask(void* attributes, void* signals);

    [LibraryImport("libc", EntryPoint = "posix_spawnattr_setsigdefault")]
    private static partial int SpawnAttrSetSigDefault(void* attributes, void* signals);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_init")]
    private static partial int FileActionsInit(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_destroy")]
    private static partial int FileActionsDestroy(void* actions);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addchdir_np", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FileActionsAddChdir(void* actions, string path);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addopen", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int FileActionsAddOpen(void* actions, int descriptor, string path, int flags, int mode);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_addclosefrom_np")]
    private static partial int FileActionsAddCloseFrom(void* actions, int lowest);

    [LibraryImport("libc", EntryPoint = "posix_spawn_file_actions_adddup2")]
    private static partial int FileActionsAddDup2(void* actions, int descriptor, int newDescriptor);

    [LibraryImport("libc", EntryPoint = "sigemptyset", SetLastError = true)]
    private static partial int SigEmptySet(void* signals);

    [LibraryImport("libc", EntryPoint = "sigaddset", SetLastError = true)]
    private static partial int SigAddSet(void* signals, int signal);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPid(int pid, int* status, int options);
}
