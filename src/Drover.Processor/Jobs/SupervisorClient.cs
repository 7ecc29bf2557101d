using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Jobs;

/// <summary>A command under a supervisor: its pid (also its process group), its start time, and its exit code to come.</summary>
internal sealed record Supervised(int Pid, long StartTicks, Task<int?> Exited);

/// <summary>
/// The Processor's side of the <see cref="Supervisor"/>: connects to the one that serves this state directory, or
/// starts one (in a session of its own, so that a kill of the Processor's group does not take it), and keeps the
/// connection for as long as the Processor runs. If the supervisor dies, the commands it was waiting for are
/// followed to their end here (they are re-parented to this Processor, a subreaper too, when it had started that
/// supervisor) and the next command starts a new supervisor.
/// </summary>
internal sealed partial class SupervisorClient(IOptions<ProcessorOptions> options, ILogger<SupervisorClient> logger) : IDisposable
{
    // A loaded machine can take a few seconds to start a .NET process.
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan OwnSupervisorExit = TimeSpan.FromSeconds(2);

    private readonly SemaphoreSlim _connecting = new(1, 1);
    private readonly CancellationTokenSource _disposed = new();
    private volatile Connection? _connection;

    public string SocketPath { get; } = Path.GetFullPath(Path.Combine(options.Value.StateDirectory, "processor", "supervisor.sock"));

    /// <summary>
    /// Starts a command under the supervisor. A program that cannot be run (not found, say) ends at once, with pid 0
    /// and the exit code a shell would give it (the supervisor wrote why to the log); an <see cref="IOException"/>
    /// means nothing was started (the working directory is gone, or no supervisor could be reached).
    /// </summary>
    public async Task<Supervised> StartAsync(
        IReadOnlyList<string> argv, IReadOnlyList<string> environment, string directory, string log, string exitFile, CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken);
        var (answer, watches) = await connection.RequestAsync(new SupervisorMessage
        {
            Op = SupervisorMessage.Start, Argv = argv, Env = environment, Cwd = directory, Log = log, ExitFile = exitFile,
        }, cancellationToken);
        if (answer.Error is { } error)
            throw new IOException(error);
        if (watches is [var watch])
            return new Supervised(watch.Pid, watch.StartTicks, watch.Exited.Task);
        return new Supervised(0, 0, Task.FromResult(answer.ExitCode));
    }

    /// <summary>The commands the supervisor still waits for, by exit-code file; a new supervisor has none.</summary>
    public async Task<Dictionary<string, Supervised>> RunningAsync(CancellationToken cancellationToken)
    {
        var connection = await ConnectAsync(cancellationToken);
        var (_, watches) = await connection.RequestAsync(new SupervisorMessage { Op = SupervisorMessage.List }, cancellationToken);
        return watches.ToDictionary(w => w.ExitFile, w => new Supervised(w.Pid, w.StartTicks, w.Exited.Task), StringComparer.Ordinal);
    }

    private async Task<Connection> ConnectAsync(CancellationToken cancellationToken)
    {
        if (_connection is { IsOpen: true } open)
            return open;
        await _connecting.WaitAsync(cancellationToken);
        try
        {
            if (_connection is { IsOpen: true } again)
                return again;
            ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
            var deadline = DateTime.UtcNow + StartTimeout;
            Task<int>? spawned = null;
            while (true)
            {
                if (await TryConnectAsync(spawned is { IsCompleted: false } ? spawned : null, cancellationToken) is { } connection)
                {
                    if (_disposed.IsCancellationRequested)
                    {
                        connection.Dispose();
                        throw new ObjectDisposedException(nameof(SupervisorClient));
                    }
                    return _connection = connection;
                }
                // None answers: start one, or another if ours ended (it lost the race to another that is starting).
                if (spawned is null || spawned.IsCompleted)
                    spawned = Spawn();
                if (DateTime.UtcNow > deadline)
                    throw new IOException($"no supervisor answers on {SocketPath}; see supervisor.log beside it");
                ObjectDisposedException.ThrowIf(_disposed.IsCancellationRequested, this);
                await Task.Delay(RetryInterval, cancellationToken);
            }
        }
        finally
        {
            _connecting.Release();
        }
    }

    /// <summary>Connects and asks for the running commands: a supervisor that answers has taken this Processor on.</summary>
    private async Task<Connection?> TryConnectAsync(Task<int>? ownSupervisor, CancellationToken cancellationToken)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(UnixSocketPath.EndPoint(SocketPath), cancellationToken);
        }
        catch (SocketException)
        {
            socket.Dispose();
            return null;
        }
        var connection = new Connection(socket, ownSupervisor, logger, _disposed.Token);
        try
        {
            // One caught in the backlog of a supervisor that is exiting sees the socket close before any answer.
            await connection.RequestAsync(new SupervisorMessage { Op = SupervisorMessage.List }, cancellationToken).WaitAsync(StartTimeout, cancellationToken);
            return connection;
        }
        catch (Exception e) when (e is IOException or TimeoutException)
        {
            connection.Dispose();
            return null;
        }
    }

    /// <summary>Starts a supervisor: this executable in its <c>supervise</c> mode, as the Processor itself was started.</summary>
    private Task<int> Spawn()
    {
        // The Processor is a subreaper too: if the supervisor it started dies, its commands come here rather than to
        // init, and their exit codes can still be read (see Connection.Follow).
        _ = Supervisor.SetChildSubreaper(36, 1, 0, 0, 0);
        var assembly = typeof(Supervisor).Assembly.Location;
        var apphost = Path.ChangeExtension(assembly, null);
        var host = Environment.ProcessPath;
        List<string> argv = Path.GetFileName(host) == "dotnet" ? [host!, assembly]
            : File.Exists(apphost) ? [apphost]
            : Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } dotnet ? [dotnet, assembly]
            : throw new IOException($"cannot tell how to start {assembly}: no dotnet host and no apphost beside it");
        argv.AddRange([Supervisor.Mode, SocketPath]);
        var directory = Path.GetDirectoryName(SocketPath)!;
        // What runs .NET, and the short list jobs get; never the Processor's configuration or tokens. (Commands do not
        // get the supervisor's environment: each comes with its own.)
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => e.Key is string name && (name.StartsWith("DOTNET_", StringComparison.Ordinal) || name.StartsWith("COREHOST_", StringComparison.Ordinal)
                || JobEnvironment.Defaults.Contains(name)))
            .Select(e => $"{e.Key}={e.Value}");
        var pid = Spawner.Start(argv[0], argv, environment, directory, Path.Combine(directory, "supervisor.log"));
        LogSpawned(pid, SocketPath);
        var exited = Spawner.WaitAsync(pid);
        _ = exited.ContinueWith(t => LogSupervisorExited(pid, t.Result), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return exited;
    }

    public void Dispose()
    {
        // Deliberately: the commands keep running, and the next Processor over this state directory takes them over.
        _disposed.Cancel();
        _connection?.Dispose();
        _connecting.Dispose();
    }

    /// <summary>A command the supervisor waits for, with the exit code it will report.</summary>
    private sealed class Watch(int pid, long startTicks, string exitFile)
    {
        public int Pid { get; } = pid;
        public long StartTicks { get; } = startTicks;
        public string ExitFile { get; } = exitFile;
        public TaskCompletionSource<int?> Exited { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class Connection : IDisposable
    {
        private readonly NetworkStream _stream;
        private readonly SemaphoreSlim _writing = new(1, 1);
        private readonly ConcurrentDictionary<long, (SupervisorMessage Request, TaskCompletionSource<(SupervisorMessage, IReadOnlyList<Watch>)> Answer)> _pending = new();
        private readonly ConcurrentDictionary<int, Watch> _watches = new();
        private readonly Task<int>? _ownSupervisor;
        private readonly ILogger _logger;
        private readonly CancellationToken _disposed;
        private long _lastId;
        private volatile bool _open = true;

        public Connection(Socket socket, Task<int>? ownSupervisor, ILogger logger, CancellationToken disposed)
        {
            _stream = new NetworkStream(socket, ownsSocket: true);
            _ownSupervisor = ownSupervisor;
            _logger = logger;
            _disposed = disposed;
            _ = Task.Run(ReadAsync, CancellationToken.None);
        }

        public bool IsOpen => _open;

        public async Task<(SupervisorMessage Answer, IReadOnlyList<Watch> Watches)> RequestAsync(SupervisorMessage request, CancellationToken cancellationToken)
        {
            request = request with { Id = Interlocked.Increment(ref _lastId) };
            var answer = new TaskCompletionSource<(SupervisorMessage, IReadOnlyList<Watch>)>(TaskCreationOptions.RunContinuationsAsynchronously);
            _pending[request.Id] = (request, answer);
            // The reader fails what is pending when it ends; a request added after that is failed here.
            if (!_open && _pending.TryRemove(request.Id, out _))
                throw new IOException("the supervisor is gone");
            await _writing.WaitAsync(cancellationToken);
            try
            {
                await _stream.WriteAsync(request.ToLine(), cancellationToken);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                throw new IOException("the supervisor is gone", e);
            }
            finally
            {
                _writing.Release();
            }
            return await answer.Task.WaitAsync(cancellationToken);
        }

        private async Task ReadAsync()
        {
            try
            {
                using var reader = new StreamReader(_stream, new UTF8Encoding(false));
                while (await reader.ReadLineAsync() is { } line)
                    Handle(SupervisorMessage.Parse(line));
            }
            catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or System.Text.Json.JsonException)
            {
                if (!_disposed.IsCancellationRequested)
                    _logger.LogWarning(e, "The connection to the supervisor failed");
            }
            _open = false;
            foreach (var id in _pending.Keys)
                if (_pending.TryRemove(id, out var pending))
                    pending.Answer.TrySetException(new IOException("the supervisor is gone"));
            if (_disposed.IsCancellationRequested)
                return; // the Processor is stopping: nobody waits for these any more
            if (!_watches.IsEmpty)
                _logger.LogWarning("The supervisor is gone while {Commands} commands ran; following them here", _watches.Count);
            foreach (var watch in _watches.Values)
                _ = FollowAsync(watch);
        }

        // Runs on the reader alone, in the order the supervisor wrote: a command's watch exists before its exit is read.
        private void Handle(SupervisorMessage message)
        {
            if (message.Op == SupervisorMessage.Exited)
            {
                if (_watches.TryRemove(message.Pid, out var watch))
                    watch.Exited.TrySetResult(message.ExitCode);
                return;
            }
            if (!_pending.TryRemove(message.Id, out var pending))
                return;
            var watches = new List<Watch>();
            if (message.Op == SupervisorMessage.Started && message.Pid > 0)
            {
                var watch = new Watch(message.Pid, ProcessGroups.StartTicks(message.Pid) ?? 0, pending.Request.ExitFile!);
                _watches[message.Pid] = watch;
                watches.Add(watch);
            }
            foreach (var command in message.Running ?? [])
                watches.Add(_watches.GetOrAdd(command.Pid, pid => new Watch(pid, ProcessGroups.StartTicks(pid) ?? 0, command.ExitFile)));
            pending.Answer.TrySetResult((message, watches));
        }

        private async Task FollowAsync(Watch watch)
        {
            // A supervisor this Processor started is its child: once reaped, its commands have been re-parented here.
            // Not for long, though: the connection can also end with the supervisor alive (it drops a Processor that
            // stopped reading), and then its commands are followed by polling.
            if (_ownSupervisor is not null)
                await Task.WhenAny(_ownSupervisor, Task.Delay(OwnSupervisorExit, _disposed));
            watch.Exited.TrySetResult(await RunningCommand.FollowAsync(watch.Pid, watch.StartTicks, watch.ExitFile, TimeProvider.System, _disposed));
        }

        public void Dispose()
        {
            _open = false;
            _stream.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Started supervisor {Pid} on {SocketPath}")]
    private partial void LogSpawned(int pid, string socketPath);

    [LoggerMessage(Level = LogLevel.Information, Message = "Supervisor {Pid} exited with {ExitCode}")]
    private partial void LogSupervisorExited(int pid, int exitCode);
}
