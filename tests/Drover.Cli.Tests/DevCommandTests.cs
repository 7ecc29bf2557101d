using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Drover.Contracts;
using Drover.Testing;
using Npgsql;
using Xunit.Abstractions;

namespace Drover.Cli.Tests;

/// <summary><c>drover dev</c> with <c>--database</c> and <c>--schedulers</c>, run as a process the way a user runs it.</summary>
public sealed class DevCommandTests : IDisposable
{
    private readonly DevProcess _dev = new();

    [Fact]
    public async Task Several_schedulers_over_a_sqlite_file_are_refused()
    {
        using var dev = _dev.Start("dev", "--data-dir", Path.Combine(_dev.Root, "data"), "--schedulers", "2");
        var stderr = dev.StandardError.ReadToEndAsync();
        var stdout = dev.StandardOutput.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await dev.WaitForExitAsync(limit.Token);

        Assert.Equal(2, dev.ExitCode);
        Assert.Contains("several schedulers need a PostgreSQL database: --database postgresql://...", await stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("Drover is running", await stdout, StringComparison.Ordinal);
    }

    public void Dispose() => _dev.Dispose();
}

/// <summary><c>drover dev</c> over a database of the tests' own PostgreSQL server.</summary>
public sealed class DevOnPostgresTests(ITestOutputHelper output) : IDisposable
{
    private readonly DevProcess _dev = new();

    [Fact]
    public async Task Three_schedulers_over_one_postgresql_database_run_the_seeds_job()
    {
        var database = await SharedPostgres.CreateDatabaseAsync();
        var password = new Uri(database).UserInfo.Split(':')[1];
        var schedulerPort = DevProcess.FreePorts(4); // three schedulers and, after them, the Processor's default port
        var gatewayPort = DevProcess.FreePorts(1);
        using var dev = _dev.Start("dev", "--data-dir", Path.Combine(_dev.Root, "data"), "--database", database, "--schedulers", "3",
            "--gateway-port", Port(gatewayPort), "--scheduler-port", Port(schedulerPort));
        var printed = new StringBuilder();
        try
        {
            var banner = await BannerAsync(dev, printed);
            for (var i = 0; i < 3; i++)
                Assert.Contains($"scheduler  http://127.0.0.1:{schedulerPort + i}", banner, StringComparison.Ordinal);
            Assert.Contains($"processor  http://127.0.0.1:{schedulerPort + 3}", banner, StringComparison.Ordinal);
            Assert.DoesNotContain(password, banner, StringComparison.Ordinal);

            // The seed's job, through the gateway, which spreads calls over the three schedulers.
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{gatewayPort}"), Timeout = TimeSpan.FromSeconds(60) };
            using var posted = await http.PostAsync("/scheduler/jobs/new",
                new FormUrlEncodedContent([new("command", "echo \"hello from drover\"")]));
            Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
            var id = (await posted.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;

            var deadline = DateTime.UtcNow.AddSeconds(60);
            JobStatusView status;
            while ((status = (await http.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!).State != JobState.Stopped)
            {
                Assert.True(DateTime.UtcNow < deadline, $"job {id} has not stopped after 60 s: {status}");
                await Task.Delay(100);
            }
            Assert.Equal(JobStatus.Good, status.Status);
            Assert.Equal("hello from drover\n", await http.GetStringAsync($"/scheduler/jobs/{id}/log"));

            // The store is that database, not a SQLite file at a path that looks like the URI.
            Assert.False(Directory.Exists(Path.Combine(_dev.Root, "postgresql:")), "a scheduler took the PostgreSQL URI for a SQLite path");
            Assert.True(await TableCountAsync(database) > 0, "the schedulers made no tables in the PostgreSQL database");
        }
        finally
        {
            dev.Kill(entireProcessTree: true);
            await dev.WaitForExitAsync();
            lock (printed)
                output.WriteLine(printed.ToString()); // the services' logs, for a test that failed
        }
    }

    public void Dispose() => _dev.Dispose();

    private static async Task<long> TableCountAsync(string database)
    {
        var uri = new Uri(database);
        var credentials = uri.UserInfo.Split(':', 2);
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = uri.Host, Port = uri.Port, Database = uri.AbsolutePath.TrimStart('/'), Pooling = false,
            Username = Uri.UnescapeDataString(credentials[0]), Password = Uri.UnescapeDataString(credentials[1]),
        }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// What <c>drover dev</c> prints once everything listens, or an exception with all it printed if it ends first.
    /// Everything it prints (logs included) goes on into <paramref name="printed"/>.
    /// </summary>
    private static async Task<string> BannerAsync(Process dev, StringBuilder printed)
    {
        var running = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var banner = new StringBuilder();
        dev.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not { } line)
                return;
            lock (printed)
                printed.AppendLine(line);
            banner.AppendLine(line);
            if (line.Contains("Ctrl-C stops everything", StringComparison.Ordinal))
                running.TrySetResult(banner.ToString());
        };
        dev.ErrorDataReceived += (_, e) =>
        {
            lock (printed)
                printed.AppendLine(e.Data);
        };
        dev.BeginOutputReadLine();
        dev.BeginErrorReadLine();
        var exited = dev.WaitForExitAsync();
        if (await Task.WhenAny(running.Task, exited, Task.Delay(TimeSpan.FromSeconds(90))) == running.Task)
            return await running.Task;
        lock (printed)
            throw new InvalidOperationException($"drover dev was not running after 90 s (exited: {dev.HasExited}):\n{printed}");
    }

    private static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}

/// <summary>Runs the built <c>drover</c> in a temporary folder of its own, deleted afterwards.</summary>
internal sealed class DevProcess : IDisposable
{
    public string Root { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-cli-tests", Guid.NewGuid().ToString("N"))).FullName;

    public Process Start(params string[] args)
    {
        var start = new ProcessStartInfo(Drover.DotNet)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8, WorkingDirectory = Root,
        };
        start.ArgumentList.Add(Drover.Cli);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        return Process.Start(start)!;
    }

    /// <summary>The first of <paramref name="count"/> consecutive loopback ports that are free now.</summary>
    public static int FreePorts(int count)
    {
        for (var attempt = 0; ; attempt++)
        {
            var first = Drover.FreePort();
            var listeners = new List<TcpListener>();
            try
            {
                for (var i = 1; i < count && first + i <= 65535; i++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, first + i);
                    listener.Start();
                    listeners.Add(listener);
                }
                if (listeners.Count == count - 1)
                    return first;
            }
            catch (SocketException) when (attempt < 20)
            {
            }
            finally
            {
                listeners.ForEach(l => l.Stop());
            }
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // a job's last file may still be closing; the temp folder is cleaned by the system later
        }
    }
}
