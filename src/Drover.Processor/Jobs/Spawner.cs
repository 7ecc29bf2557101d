using System.Collections;
using System.Runtime.InteropServices;

namespace Drover.Processor.Jobs;

/// <summary>
/// Starts a process with posix_spawn(3) as the leader of a new session and process group (POSIX_SPAWN_SETSID), and
/// waits for it. System.Diagnostics.Process cannot make a new session, so it took an extra exec of setsid(1) per
/// command; posix_spawn does it in the same vfork-like clone, which matters when a node runs hundreds of short
/// jobs a second. Needs glibc 2.29 or later (addchdir_np; Debian 11 and later).
/// </summary>
internal static unsafe partial class Spawner
{
    private const int SetSignalDefaults = 0x04; // POSIX_SPAWN_SETSIGDEF
    private const int SetSignalMask = 0x08;     // POSIX_SPAWN_SETSIGMASK
    private const int SetSession = 0x80;        // POSIX_SPAWN_SETSID
    private const int Interrupted = 4;          // EINTR

    // Signals the .NET runtime may ignore or handle in this process; the child starts with the default action for
    // each (an ignored SIGPIPE, say, would otherwise be inherited across exec and change how pipelines end).
    private static readonly int[] DefaultSignals = [1, 2, 3, 10, 12, 13, 14, 15, 17, 18, 20, 21, 22, 28];

    // glibc's posix_spawnattr_t is 336 bytes and posix_spawn_file_actions_t 80 on x86-64; sigset_t is 128. Room to spare.
    private const int OpaqueSize = 1024;

    /// <summary>Starts <paramref name="path"/> (an absolute path; no PATH search) and returns its pid, which is also its process group id.</summary>
    public static int Start(string path, IReadOnlyList<string> argv, IDictionary environment, IReadOnlyDictionary<string, string> overrides, string workingDirectory)
    {
        var strings = new List<IntPtr>();
        var attributes = NativeMemory.AllocZeroed(OpaqueSize);
        var actions = NativeMemory.AllocZeroed(OpaqueSize);
        var signals = NativeMemory.AllocZeroed(OpaqueSize);
        try
        {
            var arguments = NullTerminated(argv, strings);
            var variables = NullTerminated(Environment(environment, overrides), strings);
            Check(SpawnAttrInit(attributes), "posix_spawnattr_init");
            Check(SigEmptySet(signals), "sigemptyset");
            Check(SpawnAttrSetSigMask(attributes, signals), "posix_spawnattr_setsigmask");
            foreach (var signal in DefaultSignals)
                Check(SigAddSet(signals, signal), "sigaddset");
            Check(SpawnAttrSetSigDefault(attributes, signals), "posix_spawnattr_setsigdefault");
            Check(SpawnAttrSetFlags(attributes, SetSession | SetSignalMask | SetSignalDefaults), "posix_spawnattr_setflags");
            Check(FileActionsInit(actions), "posix_spawn_file_actions_init");
            Check(FileActionsAddChdir(actions, workingDirectory), "posix_spawn_file_actions_addchdir_np");
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
    /// Reaped with waitpid of this pid only, so the .NET runtime's own children are left alone. waitpid blocks, so
    /// each child needs a thread for the time it runs; the threads are kept and reused rather than one started per
    /// child, which cost a thread's creation and teardown for every command.
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
        var signal = status & 0x7f;
        return signal == 0 ? (status >> 8) & 0xff : 128 + signal;
    }

    private static IEnumerable<string> Environment(IDictionary environment, IReadOnlyDictionary<string, string> overrides)
    {
        foreach (DictionaryEntry entry in environment)
            if (entry.Key is string name && !overrides.ContainsKey(name))
                yield return $"{name}={entry.Value}";
        foreach (var (name, value) in overrides)
            yield return $"{name}={value}";
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

    [LibraryImport("libc", EntryPoint = "sigemptyset", SetLastError = true)]
    private static partial int SigEmptySet(void* signals);

    [LibraryImport("libc", EntryPoint = "sigaddset", SetLastError = true)]
    private static partial int SigAddSet(void* signals, int signal);

    [LibraryImport("libc", EntryPoint = "waitpid", SetLastError = true)]
    private static partial int WaitPid(int pid, int* status, int options);
}
