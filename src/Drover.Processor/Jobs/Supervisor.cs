using System.Diagnostics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using Drover.Processor.Storage;

namespace Drover.Processor.Jobs;

/// <summary>
/// The node's supervisor: the Processor's own executable started as <c>supervise SOCKET</c>, in a session of its own,
/// so that it outlives the Processor's service. It spawns each command directly (one exec per command), is its
/// parent and, as a subreaper, the parent of whatever the command leaves behind; it reaps them, writes each command's
/// exit code to the command's exit-code file, and tells every connected Processor (<see cref="SupervisorMessage"/>).
/// A Processor that restarted connects again and asks which commands still run. Kept small on purpose: no host, no
/// DI, no logging framework; what goes wrong is written to stderr, which is <c>supervisor.log</c>.
/// </summary>
internal sealed partial class Supervisor : IDisposable
{
    public const string Mode = "supervise";

    // Long enough for a restarting Processor to come back; short enough that a stopped node soon leaves nothing behind.
    private static readonly TimeSpan IdleGrace = TimeSpan.FromSeconds(2);

    // How long a write to a Processor may block before it is dropped: a stopped (SIGSTOP) Processor must not stall
    // the reaper, which writes under the gate. A dropped Processor reads the exit-code files instead.
    private static readonly TimeSpan SendTimeout = TimeSpan.FromSeconds(5);

    private const int NotFound = 127;       // as a shell reports a program it cannot find
    private const int CannotExecute = 126;  // ... and one it found but cannot run
    private const int ExecutableBit = 1;    // X_OK
    private const int SetChildSubreaperOption = 36; // PR_SET_CHILD_SUBREAPER
    private const int ExclusiveNoWait = 2 | 4;      // LOCK_EX | LOCK_NB

    // Guards the commands and the connections; every message to a Processor is written under it, so a `started` is
    // always on the wire before that command's `exited`, and a `running` list is never contradicted by a later event.
    private readonly Lock _gate = new();
    private readonly Dictionary<int, string> _exitFiles = [];
    private readonly List<Connection> _connections = [];
    private readonly AutoResetEvent _spawned = new(false);

    public static int Run(string socketPath)
    {
        _ = SetChildSubreaper(SetChildSubreaperOption, 1, 0, 0, 0);
        // One supervisor per state directory. The lock dies with its holder (the descriptor is close-on-exec, so no
        // command holds it); a new supervisor waits a little for one that is on its way out.
        using var lockFile = TakeLock(socketPath + ".lock");
        if (lockFile is null)
            return 0;
        File.Delete(socketPath); // a dead supervisor's
        using var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(UnixSocketPath.EndPoint(socketPath));
        listener.Listen(64);
        using var supervisor = new Supervisor();
        new Thread(() => supervisor.Accept(listener)) { IsBackground = true, Name = "accept" }.Start();
        new Thread(supervisor.Reap) { IsBackground = true, Name = "reap" }.Start();
        supervisor.WaitUntilIdle(socketPath);
        return 0;
    }

    private static FileStream? TakeLock(string path)
    {
        var deadline = Stopwatch.StartNew();
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.ReadWrite);
        while (Flock(file.SafeFileHandle.DangerousGetHandle(), ExclusiveNoWait) != 0)
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(5))
            {
                file.Dispose();
                return null;
            }
            Thread.Sleep(50);
        }
        return file;
    }

    /// <summary>Returns once no command runs and no Processor has been connected for <see cref="IdleGrace"/>.</summary>
    private void WaitUntilIdle(string socketPath)
    {
        var idle = Stopwatch.StartNew();
        while (true)
        {
            Thread.Sleep(250);
            lock (_gate)
            {
                if (_exitFiles.Count > 0 || _connections.Count > 0)
                {
                    idle.Restart();
                    continue;
                }
                if (idle.Elapsed < IdleGrace)
                    continue;
                // Under the gate, so no connection is taken after this; one caught in the backlog sees the socket
                // close before any answer, and its Processor starts a new supervisor.
                File.Delete(socketPath);
                return;
            }
        }
    }

    private void Accept(Socket listener)
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = listener.Accept();
            }
            catch (SocketException e)
            {
                // Out of descriptors, say: the commands it has still need their reaper, so it carries on.
                Console.Error.WriteLine($"{DateTime.UtcNow:O} accept failed: {e.Message}");
                Thread.Sleep(100);
                continue;
            }
            socket.SendTimeout = (int)SendTimeout.TotalMilliseconds;
            var connection = new Connection(socket);
            lock (_gate)
                _connections.Add(connection);
            new Thread(() => Serve(connection)) { IsBackground = true, Name = "serve" }.Start();
        }
    }

    private void Serve(Connection connection)
    {
        try
        {
            using var reader = new StreamReader(connection.Stream, new UTF8Encoding(false));
            while (reader.ReadLine() is { } line)
            {
                var request = SupervisorMessage.Parse(line);
                try
                {
                    if (request.Op == SupervisorMessage.Start)
                        StartCommand(connection, request);
                    else if (request.Op == SupervisorMessage.List)
                        lock (_gate)
                            connection.Send(new SupervisorMessage
                            {
                                Op = SupervisorMessage.List,
                                Id = request.Id,
                                Running = [.. _exitFiles.Select(c => new SupervisedCommand(c.Key, c.Value))],
                            });
                }
                catch (Exception e) when (e is not IOException)
                {
                    // A request it cannot carry out (a malformed one, say) fails alone; the commands still need their reaper.
                    lock (_gate)
                        connection.Send(new SupervisorMessage { Op = request.Op, Id = request.Id, Error = e.Message });
                }
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or JsonException)
        {
            Console.Error.WriteLine($"{DateTime.UtcNow:O} a Processor's connection ended: {e.Message}");
        }
        finally
        {
            lock (_gate)
                _connections.Remove(connection);
            connection.Dispose();
        }
    }

    private void StartCommand(Connection connection, SupervisorMessage request)
    {
        var (argv, environment, directory, log, exitFile) = (request.Argv!, request.Env!, request.Cwd!, request.Log!, request.ExitFile!);
        if (FindProgram(argv[0], environment, directory) is not { } program)
        {
            CannotRun(connection, request, $"{argv[0]}: not found", NotFound);
            return;
        }
        lock (_gate)
        {
            int pid;
            try
            {
                // Under the gate: the reaper may reap this pid before posix_spawn returns, and must find it here.
                pid = Spawner.Start(program, argv, environment, directory, log);
            }
            catch (IOException e) when (Directory.Exists(directory))
            {
                CannotRun(connection, request, e.Message, CannotExecute);
                return;
            }
            catch (IOException e)
            {
                connection.Send(new SupervisorMessage { Op = SupervisorMessage.Started, Id = request.Id, Error = e.Message });
                return;
            }
            _exitFiles[pid] = exitFile;
            connection.Send(new SupervisorMessage { Op = SupervisorMessage.Started, Id = request.Id, Pid = pid });
        }
        _spawned.Set();
    }

    /// <summary>The program was not started: it ends at once, as a shell would report it, in the log and the exit-code file.</summary>
    private void CannotRun(Connection connection, SupervisorMessage request, string why, int exitCode)
    {
        try
        {
            File.AppendAllText(request.Log!, $"drover: {why}\n");
            WriteExitCode(request.ExitFile!, exitCode);
        }
        catch (IOException e)
        {
            lock (_gate)
                connection.Send(new SupervisorMessage { Op = SupervisorMessage.Started, Id = request.Id, Error = e.Message });
            return;
        }
        lock (_gate)
            connection.Send(new SupervisorMessage { Op = SupervisorMessage.Started, Id = request.Id, ExitCode = exitCode });
    }

    /// <summary>
    /// Resolves the program as the shell's <c>exec "$@"</c> did: a name with a slash as it is (relative to the working
    /// directory), any other through the job's own PATH. posix_spawnp would search the supervisor's PATH instead.
    /// </summary>
    private static string? FindProgram(string program, IReadOnlyList<string> environment, string directory)
    {
        if (program.Contains('/', StringComparison.Ordinal))
            return File.Exists(Path.Combine(directory, program)) ? program : null;
        var path = environment.FirstOrDefault(v => v.StartsWith("PATH=", StringComparison.Ordinal))?[5..] ?? "/usr/local/bin:/usr/bin:/bin";
        foreach (var entry in path.Split(':'))
        {
            var candidate = Path.Combine(directory, entry.Length == 0 ? "." : entry, program);
            if (File.Exists(candidate) && Access(candidate, ExecutableBit) == 0)
                return candidate;
        }
        return null;
    }

    private void Reap()
    {
        while (true)
        {
            if (Spawner.WaitAny() is not var (pid, exitCode))
            {
                _spawned.WaitOne();
                continue;
            }
            lock (_gate)
            {
                // Not one of ours: something a command left behind, which came to this subreaper.
                if (!_exitFiles.Remove(pid, out var exitFile))
                    continue;
                try
                {
                    WriteExitCode(exitFile, exitCode);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Console.Error.WriteLine($"{DateTime.UtcNow:O} cannot write {exitFile}: {e.Message}");
                }
                var exited = new SupervisorMessage { Op = SupervisorMessage.Exited, Pid = pid, ExitCode = exitCode }.ToLine();
                foreach (var connection in _connections)
                    connection.Send(exited);
            }
        }
    }

    public void Dispose() => _spawned.Dispose();

    /// <summary>To a temporary file and renamed into place: a reader never sees half a number.</summary>
    public static void WriteExitCode(string path, int exitCode) =>
        AtomicFile.Write(path, Encoding.ASCII.GetBytes(exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) + "\n"), durable: false);

    /// <summary>A Processor connected to this supervisor; written to only under the gate.</summary>
    private sealed class Connection(Socket socket) : IDisposable
    {
        public NetworkStream Stream { get; } = new(socket, ownsSocket: true);

        public void Send(SupervisorMessage message) => Send(message.ToLine());

        public void Send(byte[] line)
        {
            try
            {
                Stream.Write(line);
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // Gone or stuck: closing ends its reader, and the Processor goes by the exit-code files.
                Stream.Dispose();
            }
        }

        public void Dispose() => Stream.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "prctl", SetLastError = true)]
    internal static partial int SetChildSubreaper(int option, nuint value, nuint unused2, nuint unused3, nuint unused4);

    [LibraryImport("libc", EntryPoint = "flock", SetLastError = true)]
    private static partial int Flock(IntPtr descriptor, int operation);

    [LibraryImport("libc", EntryPoint = "access", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Access(string path, int mode);
}
