using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using Drover.Contracts;
using Drover.Gateway;
using Drover.Processor;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.Cli.Tests;

/// <summary>
/// A real Drover on free 127.0.0.1 ports (a Processor named <see cref="NodeName"/> with a label, a scheduler over a
/// temporary SQLite file, a gateway with API keys in front, every service requiring its token), and the built
/// <c>drover</c> run against it as a process, the way a user runs it.
/// </summary>
public sealed class Drover : IAsyncLifetime
{
    public const string NodeName = "node1";
    public const string AdminKey = "cli-admin-key";
    public const string ReadKey = "cli-read-key";
    private const string SchedulerToken = "cli-scheduler-token";
    private const string ProcessorToken = "cli-processor-token";
    private const string JobTokenKey = "cli-job-token-key";

    private readonly List<WebApplication> _apps = [];

    public string Root { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-cli-tests", Guid.NewGuid().ToString("N"))).FullName;
    public Uri GatewayUrl { get; private set; } = null!;

    /// <summary>The CLI as built next to these tests.</summary>
    public static string Cli { get; } = Path.Combine(AppContext.BaseDirectory, "drover.dll");

    /// <summary>The <c>dotnet</c> that runs these tests, so that jobs can run the CLI without relying on PATH.</summary>
    public static string DotNet { get; } = System.Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";

    public async Task InitializeAsync()
    {
        var processorUrl = await StartAsync(ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", Path.Combine(Root, "processor"),
            "--Processor:Token", ProcessorToken,
            "--Processor:Name", NodeName,
            "--Processor:Labels:zone", "a",
            "--Processor:Slots", "8",
            "--Processor:KillGracePeriod", "00:00:01"]));
        // Jobs call back through the gateway ($DROVER_URL), so its port is chosen before the scheduler starts.
        var gatewayUrl = $"http://127.0.0.1:{FreePort()}";
        var schedulerUrl = await StartAsync(SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Path.Combine(Root, "scheduler.db"),
            "--Scheduler:DataDirectory", Path.Combine(Root, "uploads"),
            "--Scheduler:Token", SchedulerToken,
            "--Scheduler:JobTokenKey", JobTokenKey,
            "--Scheduler:NodeToken", ProcessorToken,
            "--Scheduler:PublicUrl", gatewayUrl,
            "--Scheduler:Nodes:0:Name", NodeName,
            "--Scheduler:Nodes:0:Uri", processorUrl.ToString(),
            "--Scheduler:Nodes:0:Labels:zone", "a",
            "--Scheduler:PollInterval", "00:00:00.200",
            "--Scheduler:RetryBackoffBase", "00:00:00.100",
            "--Scheduler:RetryBackoffMax", "00:00:00.300"]));
        GatewayUrl = await StartAsync(GatewayApp.Create([
            "--urls", gatewayUrl,
            "--Gateway:SchedulerUrls:0", schedulerUrl.ToString(),
            "--Gateway:ProcessorUrl", processorUrl.ToString(),
            "--Gateway:SchedulerToken", SchedulerToken,
            "--Gateway:ProcessorToken", ProcessorToken,
            "--Gateway:JobTokenKey", JobTokenKey,
            "--Gateway:Keys:0:Name", "operator", "--Gateway:Keys:0:Key", AdminKey, "--Gateway:Keys:0:Role", "admin",
            "--Gateway:Keys:1:Name", "reader", "--Gateway:Keys:1:Key", ReadKey, "--Gateway:Keys:1:Role", "read"]));
        Http = new HttpClient { BaseAddress = GatewayUrl, Timeout = TimeSpan.FromSeconds(60) };
        Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
    }

    /// <summary>
    /// The API straight, with the admin key: for setting up and checking what a test is not about, so that each test
    /// runs the CLI only for what it checks (every run of it costs a process start).
    /// </summary>
    public HttpClient Http { get; private set; } = null!;

    public async Task<long> SubmitOverHttpAsync(params string[] argv)
    {
        using var response = await Http.PostAsJsonAsync("/scheduler/jobs/new", new JobSpec { Commands = [CommandSpec.FromArgv(argv)], MaxAttempts = 1 }, DroverJson.Options);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;
    }

    public async Task<JobRecord> RecordAsync(long id) =>
        (await Http.GetFromJsonAsync<JobRecord>($"/scheduler/jobs/{id}", DroverJson.Options))!;

    public async Task<JobStatusView> StoppedAsync(long id)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var status = (await Http.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!;
            if (status.State == JobState.Stopped)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {id} has not stopped after 60 s: {status}");
            await Task.Delay(100);
        }
    }

    private async Task<Uri> StartAsync(WebApplication app)
    {
        _apps.Add(app);
        await app.StartAsync();
        return new Uri(app.Urls.First());
    }

    /// <summary>The environment a user of this system has: <c>DROVER_URL</c> and <c>DROVER_TOKEN</c> (the admin key).</summary>
    public Dictionary<string, string?> Environment(string? token = AdminKey) => new()
    {
        ["DROVER_URL"] = GatewayUrl.ToString(),
        ["DROVER_TOKEN"] = token,
    };

    /// <summary>Runs <c>drover ARGS</c> to its end (60 s at most) and returns what it printed.</summary>
    public Task<Run> RunAsync(params string[] args) => RunAsync(Environment(), null, args);

    public async Task<Run> RunAsync(Dictionary<string, string?> environment, string? stdin, params string[] args)
    {
        using var process = Start(environment, args);
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            await process.StandardInput.WriteAsync(stdin);
        process.StandardInput.Close();
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(limit.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"drover {string.Join(' ', args)} did not end in 60 s: {await stdout} {await stderr}");
        }
        return new Run(args, process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Starts <c>drover ARGS</c> in <see cref="Root"/> and leaves it running (the caller reads it and kills it).</summary>
    public Process Start(Dictionary<string, string?> environment, params string[] args)
    {
        var start = new ProcessStartInfo(DotNet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
            WorkingDirectory = Root, // as a user in a folder of their own
        };
        start.ArgumentList.Add(Cli);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment.Remove("DROVER_URL");
        start.Environment.Remove("DROVER_TOKEN");
        foreach (var (name, value) in environment)
            start.Environment[name] = value;
        return Process.Start(start)!;
    }

    /// <summary>Submits <c>drover submit ARGS</c> and returns the id it printed (asserting it printed only that).</summary>
    public async Task<long> SubmitAsync(params string[] args)
    {
        var run = await RunAsync(["submit", .. args]);
        run.AssertExit(0);
        Assert.Matches("^[0-9]+\n$", run.Stdout);
        return long.Parse(run.Stdout, CultureInfo.InvariantCulture);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        for (var i = _apps.Count - 1; i >= 0; i--)
        {
            await _apps[i].StopAsync();
            await _apps[i].DisposeAsync();
        }
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

/// <summary>One run of the CLI: how it exited and what it wrote.</summary>
public sealed record Run(string[] Args, int ExitCode, string Stdout, string Stderr)
{
    public void AssertExit(int expected) =>
        Assert.True(ExitCode == expected, $"drover {string.Join(' ', Args)} exited {ExitCode}, not {expected}\nstdout: {Stdout}\nstderr: {Stderr}");
}

[CollectionDefinition(Name)]
public sealed class DroverGroup : ICollectionFixture<Drover>
{
    public const string Name = "drover";
}
