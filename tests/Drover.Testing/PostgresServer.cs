using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Npgsql;

namespace Drover.Testing;

/// <summary>
/// A PostgreSQL server of the tests' own: initdb into a new temp folder, a superuser <c>drover</c> with a random password
/// (scram-sha-256, so a wrong password is refused as on a real server), on a free loopback port. Disposing it stops the
/// server and deletes the folder; so does the end of the process, and a watchdog does if the process is killed first.
/// </summary>
public sealed partial class PostgresServer : IAsyncDisposable
{
    private const string User = "drover";
    // initdb and postgres refuse to run as root; the Debian package creates this user for them.
    private const string SystemUser = "postgres";
    private static readonly TimeSpan InitTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(30);
    private const int StartAttempts = 3;

    private readonly Programs _programs;
    private readonly string _folder;
    private readonly string _password;
    private readonly Process? _watchdog;
    private int _disposed;

    private PostgresServer(Programs programs, string folder, string password, int port)
    {
        _programs = programs;
        _folder = folder;
        _password = password;
        Port = port;
        AppDomain.CurrentDomain.ProcessExit += OnProcessExit;
        _watchdog = StartWatchdog();
    }

    public int Port { get; }

    private string DataFolder => Path.Combine(_folder, "data");

    private static string LogFile(string folder) => Path.Combine(folder, "server.log");

    public static async Task<PostgresServer> StartAsync(CancellationToken cancellationToken = default)
    {
        var programs = Programs.Find();
        var folder = Directory.CreateTempSubdirectory("drover-pg-").FullName;
        try
        {
            var password = RandomNumberGenerator.GetHexString(32, lowercase: true);
            await InitAsync(programs, folder, password, cancellationToken);
            for (var attempt = 1; ; attempt++)
            {
                var port = FreePort();
                var (exitCode, output) = await programs.RunAsync("pg_ctl",
                    ["-D", Path.Combine(folder, "data"), "-l", LogFile(folder), "-w", "-t", ((int)StartTimeout.TotalSeconds).ToString(CultureInfo.InvariantCulture),
                     "-o", $"-p {port}", "start"],
                    folder, StartTimeout + TimeSpan.FromSeconds(30), cancellationToken);
                if (exitCode == 0)
                    return new PostgresServer(programs, folder, password, port);
                var log = ReadLog(folder);
                // The port was free when probed, but another process may have bound it since: take another one.
                if (attempt < StartAttempts && log.Contains("could not bind", StringComparison.OrdinalIgnoreCase))
                    continue;
                throw new InvalidOperationException(
                    $"PostgreSQL did not start on 127.0.0.1:{port} (pg_ctl exited with {exitCode}).\n{output}\n--- server log ---\n{log}");
            }
        }
        catch
        {
            // A server that started after all (pg_ctl timed out while it came up) must not outlive the failure.
            try
            {
                await programs.RunAsync("pg_ctl", ["-D", Path.Combine(folder, "data"), "-m", "immediate", "-w", "stop"], folder, StopTimeout, CancellationToken.None);
            }
            catch (Exception e) when (e is TimeoutException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
            }
            TryDelete(folder);
            throw;
        }
    }

    /// <summary>Creates a fresh empty database and returns its URI: postgresql://drover:&lt;password&gt;@127.0.0.1:&lt;port&gt;/&lt;name&gt;.</summary>
    public async Task<string> CreateDatabaseAsync(string? name = null, CancellationToken cancellationToken = default)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        name ??= "drover_" + RandomNumberGenerator.GetHexString(12, lowercase: true);
        if (!DatabaseName().IsMatch(name))
            throw new ArgumentException($"'{name}' is not a database name here: lower-case letters, digits and _, at most 63, not starting with a digit.", nameof(name));

        var connectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1", Port = Port, Username = User, Password = _password, Database = "postgres", Pooling = false,
        }.ConnectionString;
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        // The name was checked above; an identifier cannot be a parameter.
#pragma warning disable CA2100
        await using var command = new NpgsqlCommand($"CREATE DATABASE \"{name}\"", connection);
#pragma warning restore CA2100
        await command.ExecuteNonQueryAsync(cancellationToken);
        return $"postgresql://{User}:{_password}@127.0.0.1:{Port}/{name}";
    }

    /// <summary>Stops the server (immediately: nothing in it is worth a checkpoint) and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessExit;
        await StopAsync(CancellationToken.None);
        StopWatchdog();
        TryDelete(_folder);
    }

    private void OnProcessExit(object? sender, EventArgs e)
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        // No synchronization context here and nothing else left to run: blocking is what this handler is for.
        StopAsync(CancellationToken.None).GetAwaiter().GetResult();
        StopWatchdog();
        TryDelete(_folder);
    }

    private async Task StopAsync(CancellationToken cancellationToken)
    {
        var postmaster = PostmasterPid();
        try
        {
            var (exitCode, _) = await _programs.RunAsync("pg_ctl", ["-D", DataFolder, "-m", "immediate", "-w", "stop"], _folder, StopTimeout, cancellationToken);
            if (exitCode == 0)
                return;
        }
        catch (Exception e) when (e is TimeoutException or InvalidOperationException)
        {
        }
        // pg_ctl could not stop it: the server must not outlive the tests, so end it the hard way.
        if (postmaster is { } pid)
        {
            try
            {
                using var process = Process.GetProcessById(pid);
                process.Kill();
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException)
            {
            }
        }
    }

    private int? PostmasterPid()
    {
        try
        {
            var first = File.ReadLines(Path.Combine(DataFolder, "postmaster.pid")).FirstOrDefault();
            return int.TryParse(first, CultureInfo.InvariantCulture, out var pid) ? pid : null;
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// A process that outlives a killed test host (its own session) and then ends the server the way
    /// <c>pg_ctl stop -m immediate</c> does (SIGQUIT to the postmaster) and deletes the folder. Dispose ends it first.
    /// </summary>
    private Process? StartWatchdog()
    {
        if (OperatingSystem.IsWindows() || PostmasterPid() is not { } postmaster)
            return null;
        const string script = """
            exec </dev/null >/dev/null 2>&1
            while kill -0 "$1"; do sleep 1; done
            kill -QUIT "$2"; sleep 3; rm -rf "$3"
            """;
        var start = new ProcessStartInfo(File.Exists("/usr/bin/setsid") ? "/usr/bin/setsid" : "/bin/sh")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (start.FileName.EndsWith("setsid", StringComparison.Ordinal))
            start.ArgumentList.Add("/bin/sh");
        foreach (var argument in new[] { "-c", script, "drover-pg-watchdog", Environment.ProcessId.ToString(CultureInfo.InvariantCulture),
                     postmaster.ToString(CultureInfo.InvariantCulture), _folder })
            start.ArgumentList.Add(argument);
        try
        {
            return Process.Start(start);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null; // no shell: dispose and process exit still stop the server
        }
    }

    private void StopWatchdog()
    {
        if (_watchdog is null)
            return;
        try
        {
            _watchdog.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _watchdog.Dispose();
    }

    private static async Task InitAsync(Programs programs, string folder, string password, CancellationToken cancellationToken)
    {
        var passwordFile = Path.Combine(folder, "password");
        await File.WriteAllTextAsync(passwordFile, password + "\n", cancellationToken);
        if (programs.RunAs is { } user)
        {
            var (chownExit, chownOutput) = await Programs.RunProcessAsync("chown", ["-R", $"{user}:", folder], folder, InitTimeout, cancellationToken);
            if (chownExit != 0)
                throw new InvalidOperationException($"Could not hand {folder} to the system user '{user}': {chownOutput}");
        }

        // --no-sync only skips flushing the template files initdb writes; the server itself runs with fsync on.
        var (exitCode, output) = await programs.RunAsync("initdb",
            ["-D", Path.Combine(folder, "data"), "-U", User, $"--pwfile={passwordFile}", "--auth=scram-sha-256",
             "--encoding=UTF8", "--locale=C", "--no-sync"],
            folder, InitTimeout, cancellationToken);
        File.Delete(passwordFile);
        if (exitCode != 0)
            throw new InvalidOperationException($"initdb failed (exit code {exitCode}):\n{output}");

        // Loopback only, the socket in our own folder (not the system's /var/run/postgresql), and enough connections
        // for several schedulers' pools; fsync on, as a user's server has it.
        var settings = $"""

            # Drover's test server
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '{folder.Replace("'", "''", StringComparison.Ordinal)}'
            max_connections = 200
            fsync = on

            """;
        await File.AppendAllTextAsync(Path.Combine(folder, "data", "postgresql.conf"), settings, cancellationToken);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static string ReadLog(string folder)
    {
        try
        {
            return File.ReadAllText(LogFile(folder));
        }
        catch (IOException)
        {
            return "(no server log)";
        }
    }

    private static void TryDelete(string folder)
    {
        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex DatabaseName();

    /// <summary>Where initdb and pg_ctl are, and whom to run them as.</summary>
    private sealed record Programs(string Folder, string? RunAs)
    {
        public static Programs Find()
        {
            var folder = FindFolder() ?? throw new InvalidOperationException(
                "No PostgreSQL server programs (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: install the Debian package " +
                "postgresql (scripts/test does when run as root).");
            if (!IsRoot())
                return new Programs(folder, null);
            if (!SystemUserExists())
                throw new InvalidOperationException(
                    $"The tests run as root, and initdb and postgres refuse to: they are run as the system user '{SystemUser}', which does " +
                    "not exist here. Install the Debian package postgresql (it creates that user) or run the tests as another user.");
            return new Programs(folder, SystemUser);
        }

        public Task<(int ExitCode, string Output)> RunAsync(string program, IReadOnlyList<string> arguments, string workingFolder,
            TimeSpan timeout, CancellationToken cancellationToken)
        {
            var path = Path.Combine(Folder, program);
            return RunAs is { } user
                ? RunProcessAsync("runuser", ["-u", user, "--", path, .. arguments], workingFolder, timeout, cancellationToken)
                : RunProcessAsync(path, arguments, workingFolder, timeout, cancellationToken);
        }

        public static async Task<(int ExitCode, string Output)> RunProcessAsync(string fileName, IReadOnlyList<string> arguments, string workingFolder,
            TimeSpan timeout, CancellationToken cancellationToken)
        {
            var start = new ProcessStartInfo(fileName)
            {
                // Our own folder: the system user may not enter the caller's working directory (root's home, say).
                WorkingDirectory = workingFolder,
                RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            };
            foreach (var argument in arguments)
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {fileName}.");
            process.StandardInput.Close();
            var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
            var errors = process.StandardError.ReadToEndAsync(CancellationToken.None);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(timeout);
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                cancellationToken.ThrowIfCancellationRequested();
                throw new TimeoutException($"{Path.GetFileName(fileName)} {string.Join(' ', arguments)} did not finish within {timeout}.");
            }
            return (process.ExitCode, (await output + await errors).Trim());
        }

        private static string? FindFolder()
        {
            var path = Environment.GetEnvironmentVariable("PATH") ?? "";
            foreach (var folder in path.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
            {
                var initdb = Path.Combine(folder, "initdb");
                if (File.Exists(initdb) && File.Exists(Path.Combine(folder, "pg_ctl")))
                {
                    // A link (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb): use the folder of the real programs.
                    var real = new FileInfo(initdb).ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? initdb;
                    var realFolder = Path.GetDirectoryName(real)!;
                    return File.Exists(Path.Combine(realFolder, "pg_ctl")) ? realFolder : folder;
                }
            }
            const string debian = "/usr/lib/postgresql";
            if (!Directory.Exists(debian))
                return null;
            return Directory.GetDirectories(debian)
                .Select(version => (Version: ParseVersion(Path.GetFileName(version)), Bin: Path.Combine(version, "bin")))
                .Where(v => v.Version is not null && File.Exists(Path.Combine(v.Bin, "initdb")) && File.Exists(Path.Combine(v.Bin, "pg_ctl")))
                .OrderByDescending(v => v.Version)
                .Select(v => v.Bin)
                .FirstOrDefault();
        }

        private static Version? ParseVersion(string name) =>
            Version.TryParse(name.Contains('.', StringComparison.Ordinal) ? name : name + ".0", out var version) ? version : null;

        private static bool IsRoot() => !OperatingSystem.IsWindows() && geteuid() == 0;

        private static bool SystemUserExists()
        {
            try
            {
                return File.ReadLines("/etc/passwd").Any(line => line.StartsWith(SystemUser + ":", StringComparison.Ordinal));
            }
            catch (IOException)
            {
                return false;
            }
        }

        // A plain import: LibraryImport would need unsafe code enabled for one call that takes no arguments.
#pragma warning disable SYSLIB1054
        [DllImport("libc", ExactSpelling = true)]
        private static extern uint geteuid();
#pragma warning restore SYSLIB1054
    }
}
