using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Drover.Contracts;

namespace Drover.Chaos.Tests;

/// <summary>
/// The whole system as separate processes on loopback ports, as users run it: the gateway, the scheduler (SQLite in a
/// temporary folder), two Processors that register by heartbeat and the shell node under busybox httpd, configured
/// statically. Every job of a run carries <see cref="RunMarker"/> in its environment, so that any process left
/// behind by a job is found by its environment (<c>ps e</c>).
/// </summary>
public sealed class ChaosSystem : IAsyncLifetime
{
    public const string ProcessorLabel = "processor";
    private readonly string _schedulerToken = Guid.NewGuid().ToString("N");
    private readonly string _nodeToken = Guid.NewGuid().ToString("N");
    private readonly string _jobKey = Guid.NewGuid().ToString("N");

    public ChaosSystem()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("drover-chaos-").FullName;
        RunMarker = "DROVER_CHAOS_RUN=" + Path.GetFileName(Directory);
        SchedulerUrl = Loopback();
        GatewayUrl = Loopback();
        ShellUrl = new Uri(Loopback(), "cgi-bin/drover/");
        Processors = [NewProcessor("p1", Path.Combine(Directory, "p1")), NewProcessor("p2", Path.Combine(Directory, "p2"))];
        Scheduler = ServiceProcess.Dotnet("scheduler", "Drover.Scheduler", SchedulerArguments(), new Uri(SchedulerUrl, "healthz"));
        Gateway = ServiceProcess.Dotnet("gateway", "Drover.Gateway",
        [
            "--urls", Origin(GatewayUrl),
            $"--Gateway:SchedulerUrls:0={Origin(SchedulerUrl)}",
            $"--Gateway:SchedulerToken={_schedulerToken}",
            $"--Gateway:ProcessorUrl={Origin(Processors[0].Url)}",
            $"--Gateway:ProcessorToken={_nodeToken}",
            $"--Gateway:NodeToken={_nodeToken}",
            $"--Gateway:JobTokenKey={_jobKey}",
            "--Serilog:MinimumLevel:Default=Warning",
        ], new Uri(GatewayUrl, "healthz"));
        var shellState = Path.Combine(Directory, "shell");
        Shell = new ServiceProcess("shell", Path.Combine(RepositoryRoot(), "nodes", "shell", "drover-shell-node"),
            ["--port", ShellUrl.Port.ToString(CultureInfo.InvariantCulture), "--state", shellState, "--token", _nodeToken, "--name", "shell"],
            new Uri(ShellUrl, "processor/info"), _nodeToken);
        SchedulerClient = NewClient(SchedulerUrl, _schedulerToken);
        GatewayClient = NewClient(GatewayUrl, null);
        Ledger = Path.Combine(Directory, "ledger");
    }

    public string Directory { get; }

    /// <summary>In every job's environment: a process that carries it and outlives every job is an orphan.</summary>
    public string RunMarker { get; }

    public string Ledger { get; }
    public Uri SchedulerUrl { get; }
    public Uri GatewayUrl { get; }
    public Uri ShellUrl { get; }
    public ServiceProcess Scheduler { get; }
    public ServiceProcess Gateway { get; }
    public ServiceProcess Shell { get; }
    public IReadOnlyList<ProcessorService> Processors { get; }
    public HttpClient SchedulerClient { get; }
    public HttpClient GatewayClient { get; }
    public string Database => Path.Combine(Directory, "scheduler.db");
    public string NodeToken => _nodeToken;

    public async Task InitializeAsync()
    {
        await Shell.StartAsync();
        await Scheduler.StartAsync();
        foreach (var processor in Processors)
            await processor.Service.StartAsync();
        await Gateway.StartAsync();
        await WaitForNodesAsync(["p1", "p2", "shell"]);
    }

    public async Task DisposeAsync()
    {
        foreach (var service in Processors.Select(p => p.Service).Append(Gateway).Append(Scheduler).Append(Shell))
            await service.DisposeAsync();
        SchedulerClient.Dispose();
        GatewayClient.Dispose();
        Checker.KillOrphans(RunMarker);
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a file still held open; the system's temp cleanup takes it
        }
    }

    /// <summary>A Processor of the system, not started yet.</summary>
    public ProcessorService NewProcessor(string name, string state, params string[] settings)
    {
        var url = Loopback();
        return new ProcessorService(name, url, state, ServiceProcess.Dotnet(name, "Drover.Processor",
        [
            "--urls", Origin(url),
            $"--Processor:Name={name}",
            $"--Processor:StateDirectory={state}",
            "--Processor:Slots=6",
            $"--Processor:Token={_nodeToken}",
            $"--Processor:SchedulerUrl={Origin(SchedulerUrl)}",
            $"--Processor:SchedulerToken={_schedulerToken}",
            "--Processor:HeartbeatInterval=00:00:00.300",
            "--Processor:KillGracePeriod=00:00:01",
            $"--Processor:Labels:kind={ProcessorLabel}",
            "--Serilog:MinimumLevel:Default=Warning",
            .. settings,
        ], new Uri(url, "healthz")));
    }

    private string[] SchedulerArguments() =>
    [
        "--urls", Origin(SchedulerUrl),
        $"--Scheduler:Database={Path.Combine(Directory, "scheduler.db")}",
        $"--Scheduler:DataDirectory={Path.Combine(Directory, "uploads")}",
        $"--Scheduler:Token={_schedulerToken}",
        $"--Scheduler:NodeToken={_nodeToken}",
        $"--Scheduler:JobTokenKey={_jobKey}",
        $"--Scheduler:PublicUrl={Origin(SchedulerUrl)}",
        "--Scheduler:Nodes:0:Name=shell",
        $"--Scheduler:Nodes:0:Uri={ShellUrl}",
        "--Scheduler:Nodes:0:Labels:kind=shell",
        "--Scheduler:PollInterval=00:00:00.300",
        "--Scheduler:ReconcileInterval=00:00:01",
        "--Scheduler:HeartbeatTimeout=00:00:06",
        "--Scheduler:NodeBackoff=00:00:00.500",
        "--Scheduler:RetryBackoffBase=00:00:00.100",
        "--Scheduler:RetryBackoffMax=00:00:00.500",
        "--Scheduler:NodeCallTimeout=00:00:02",
        "--Serilog:MinimumLevel:Default=Warning",
    ];

    public async Task<IReadOnlyList<NodeView>> NodesAsync() =>
        (await SchedulerClient.GetFromJsonAsync<NodeViewList>("scheduler/nodes", DroverJson.Options))!.Nodes;

    /// <summary>Until the scheduler sees each of these nodes up.</summary>
    public async Task WaitForNodesAsync(IReadOnlyList<string> names, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            try
            {
                var up = (await NodesAsync()).Where(n => n.Health == NodeHealth.Up && n.LastError is null).Select(n => n.Name).ToHashSet();
                if (names.All(up.Contains))
                    return;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"nodes {string.Join(", ", names)} are not all up after {seconds} s");
            await Task.Delay(200);
        }
    }

    public async Task<JobRecord> JobAsync(long id) =>
        (await SchedulerClient.GetFromJsonAsync<JobRecord>($"scheduler/jobs/{id}", DroverJson.Options))!;

    private static HttpClient NewClient(Uri address, string? token)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    private static string Origin(Uri url) => url.GetLeftPart(UriPartial.Authority);

    private static Uri Loopback()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return new Uri($"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
            if (File.Exists(Path.Combine(directory.FullName, "Scheduler.sln")))
                return directory.FullName;
        throw new InvalidOperationException("Scheduler.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>A Processor of the system: its service, address and state directory.</summary>
public sealed record ProcessorService(string Name, Uri Url, string StateDirectory, ServiceProcess Service);
