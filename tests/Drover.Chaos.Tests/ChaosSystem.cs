using System.Data.Common;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Drover.Contracts;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Drover.Chaos.Tests;

/// <summary>
/// The whole system as separate processes on loopback ports, as users run it: the gateway, the scheduler (SQLite in a
/// temporary folder), two Processors that register by heartbeat and the shell node under busybox httpd, configured
/// statically. Every job of a run carries <see cref="RunMarker"/> in its environment, so that any process left
/// behind by a job is found by its environment (<c>ps e</c>). Built with a PostgreSQL database instead, it runs
/// several schedulers over it (see <see cref="ClusterChaosSystem"/>).
/// </summary>
public sealed class ChaosSystem : IAsyncLifetime
{
    public const string ProcessorLabel = "processor";
    private readonly string _schedulerToken = Guid.NewGuid().ToString("N");
    private readonly string _nodeToken = Guid.NewGuid().ToString("N");
    private readonly string _jobKey = Guid.NewGuid().ToString("N");

    public ChaosSystem()
        : this(schedulers: 1, postgres: null)
    {
    }

    /// <param name="schedulers">How many schedulers: more than one needs <paramref name="postgres"/>.</param>
    /// <param name="postgres">A PostgreSQL database URI that every scheduler shares, or null for one scheduler over a SQLite file (with the shell node).</param>
    internal ChaosSystem(int schedulers, string? postgres)
    {
        if (schedulers > 1 && postgres is null)
            throw new ArgumentException("several schedulers share a PostgreSQL database; a SQLite file serves one", nameof(schedulers));
        Directory = System.IO.Directory.CreateTempSubdirectory("drover-chaos-").FullName;
        RunMarker = "DROVER_CHAOS_RUN=" + Path.GetFileName(Directory);
        OnPostgres = postgres is not null;
        Database = postgres ?? Path.Combine(Directory, "scheduler.db");
        SchedulerUrls = [.. Enumerable.Range(0, schedulers).Select(_ => Loopback())];
        GatewayUrl = Loopback();
        // The shell node is configured in the scheduler's options; the cluster runs on the Processors alone.
        ShellUrl = new Uri(Loopback(), "cgi-bin/drover/");
        if (postgres is null)
        {
            var shellState = Path.Combine(Directory, "shell");
            ShellNode = new ServiceProcess("shell", Path.Combine(RepositoryRoot(), "nodes", "shell", "drover-shell-node"),
                ["--port", ShellUrl.Port.ToString(CultureInfo.InvariantCulture), "--state", shellState, "--token", _nodeToken, "--name", "shell"],
                new Uri(ShellUrl, "processor/info"), _nodeToken);
        }
        Processors = [NewProcessor("p1", Path.Combine(Directory, "p1")), NewProcessor("p2", Path.Combine(Directory, "p2"))];
        Schedulers = [.. SchedulerUrls.Select((url, i) => NewScheduler(schedulers == 1 ? "scheduler" : $"scheduler{i + 1}", url, Database))];
        Gateway = ServiceProcess.Dotnet("gateway", "Drover.Gateway",
        [
            "--urls", Origin(GatewayUrl),
            .. SchedulerUrls.Select((url, i) => $"--Gateway:SchedulerUrls:{i}={Origin(url)}"),
            $"--Gateway:SchedulerToken={_schedulerToken}",
            $"--Gateway:ProcessorUrl={Origin(Processors[0].Url)}",
            $"--Gateway:ProcessorToken={_nodeToken}",
            $"--Gateway:NodeToken={_nodeToken}",
            $"--Gateway:JobTokenKey={_jobKey}",
            // With several schedulers, one that was killed is passed over within a second rather than ten.
            .. schedulers > 1 ? ["--Gateway:HealthCheckInterval=00:00:01"] : Array.Empty<string>(),
            "--Serilog:MinimumLevel:Default=Warning",
        ], new Uri(GatewayUrl, "healthz"));
        SchedulerClients = [.. SchedulerUrls.Select(url => NewClient(url, _schedulerToken))];
        GatewayClient = NewClient(GatewayUrl, null);
        Ledger = Path.Combine(Directory, "ledger");
    }

    public string Directory { get; }

    /// <summary>In every job's environment: a process that carries it and outlives every job is an orphan.</summary>
    public string RunMarker { get; }

    public string Ledger { get; }

    /// <summary>The first scheduler's address (the only one's over SQLite).</summary>
    public Uri SchedulerUrl => SchedulerUrls[0];
    public IReadOnlyList<Uri> SchedulerUrls { get; }
    public Uri GatewayUrl { get; }
    public Uri ShellUrl { get; }
    public ServiceProcess Scheduler => Schedulers[0];
    public IReadOnlyList<ServiceProcess> Schedulers { get; }
    public ServiceProcess Gateway { get; }
    private ServiceProcess? ShellNode { get; }
    public ServiceProcess Shell => ShellNode ?? throw new InvalidOperationException("this system runs no shell node");
    public IReadOnlyList<ProcessorService> Processors { get; }
    public HttpClient SchedulerClient => SchedulerClients[0];

    /// <summary>A client of each scheduler, with the service token, in the order of <see cref="Schedulers"/>.</summary>
    public IReadOnlyList<HttpClient> SchedulerClients { get; }
    public HttpClient GatewayClient { get; }

    /// <summary>The SQLite file, or the PostgreSQL database's URI.</summary>
    public string Database { get; }
    public bool OnPostgres { get; }
    public string NodeToken => _nodeToken;

    /// <summary>The nodes the scheduler should see up once the system runs.</summary>
    public IReadOnlyList<string> NodeNames => [.. Processors.Select(p => p.Name), .. ShellNode is null ? Array.Empty<string>() : ["shell"]];

    public async Task InitializeAsync()
    {
        if (ShellNode is not null)
            await ShellNode.StartAsync();
        // Together: schedulers starting at once on one database migrate it one after another.
        await Task.WhenAll(Schedulers.Select(s => s.StartAsync()));
        await Task.WhenAll(Processors.Select(p => p.Service.StartAsync()).Append(Gateway.StartAsync()));
        await WaitForNodesAsync(NodeNames);
    }

    public async Task DisposeAsync()
    {
        foreach (var service in Processors.Select(p => p.Service).Append(Gateway).Concat(Schedulers))
            await service.DisposeAsync();
        if (ShellNode is not null)
            await ShellNode.DisposeAsync();
        foreach (var client in SchedulerClients)
            client.Dispose();
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
        // One scheduler is given as the shortcut setting, as a single-scheduler user writes it; several as the list.
        string[] schedulers = SchedulerUrls.Count == 1
            ? [$"--Processor:SchedulerUrl={Origin(SchedulerUrl)}"]
            : [.. SchedulerUrls.Select((u, i) => $"--Processor:SchedulerUrls:{i}={Origin(u)}")];
        return new ProcessorService(name, url, state, ServiceProcess.Dotnet(name, "Drover.Processor",
        [
            "--urls", Origin(url),
            $"--Processor:Name={name}",
            $"--Processor:StateDirectory={state}",
            "--Processor:Slots=6",
            $"--Processor:Token={_nodeToken}",
            .. schedulers,
            $"--Processor:SchedulerToken={_schedulerToken}",
            "--Processor:HeartbeatInterval=00:00:00.300",
            "--Processor:KillGracePeriod=00:00:01",
            $"--Processor:Labels:kind={ProcessorLabel}",
            "--Serilog:MinimumLevel:Default=Warning",
            .. settings,
        ], new Uri(url, "healthz")));
    }

    /// <summary>A scheduler of the system's tokens and uploads directory at <paramref name="url"/> over <paramref name="database"/>, not started yet.</summary>
    public ServiceProcess NewScheduler(string name, Uri url, string database) =>
        ServiceProcess.Dotnet(name, "Drover.Scheduler",
        [
            "--urls", Origin(url),
            $"--Scheduler:Database={database}",
            $"--Scheduler:DataDirectory={Path.Combine(Directory, "uploads")}",
            $"--Scheduler:Token={_schedulerToken}",
            $"--Scheduler:NodeToken={_nodeToken}",
            $"--Scheduler:JobTokenKey={_jobKey}",
            $"--Scheduler:PublicUrl={Origin(url)}",
            .. ShellNode is null ? Array.Empty<string>() :
            [
                "--Scheduler:Nodes:0:Name=shell",
                $"--Scheduler:Nodes:0:Uri={ShellUrl}",
                "--Scheduler:Nodes:0:Labels:kind=shell",
            ],
            // Over a shared database, a scheduler that died is taken over from within about two seconds.
            .. OnPostgres ? ["--Scheduler:LeaseDuration=00:00:02"] : Array.Empty<string>(),
            "--Scheduler:PollInterval=00:00:00.300",
            "--Scheduler:ReconcileInterval=00:00:01",
            "--Scheduler:HeartbeatTimeout=00:00:06",
            "--Scheduler:NodeBackoff=00:00:00.500",
            "--Scheduler:RetryBackoffBase=00:00:00.100",
            "--Scheduler:RetryBackoffMax=00:00:00.500",
            "--Scheduler:NodeCallTimeout=00:00:02",
            "--Serilog:MinimumLevel:Default=Warning",
        ], new Uri(url, "healthz"));

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

    /// <summary>The store, read-only over SQLite (WAL lets a reader in beside the scheduler).</summary>
    public async Task<DbConnection> OpenDatabaseAsync()
    {
        DbConnection connection = OnPostgres
            ? new NpgsqlConnection(PostgresConnectionString(Database))
            : new SqliteConnection($"Data Source={Database};Mode=ReadOnly;Pooling=False");
        await connection.OpenAsync();
        return connection;
    }

    /// <summary>Npgsql's form of a <c>postgresql://user:password@host:port/database</c> URI, as the test server hands it out.</summary>
    private static string PostgresConnectionString(string uri)
    {
        var parsed = new Uri(uri);
        var user = parsed.UserInfo.Split(':', 2);
        return new NpgsqlConnectionStringBuilder
        {
            Host = parsed.Host,
            Port = parsed.Port,
            Database = parsed.AbsolutePath.TrimStart('/'),
            Username = Uri.UnescapeDataString(user[0]),
            Password = Uri.UnescapeDataString(user[1]),
            Pooling = false,
        }.ConnectionString;
    }

    public async Task<JobRecord> JobAsync(long id) =>
        (await SchedulerClient.GetFromJsonAsync<JobRecord>($"scheduler/jobs/{id}", DroverJson.Options))!;

    public static HttpClient NewClient(Uri address, string? token)
    {
        var client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static string Origin(Uri url) => url.GetLeftPart(UriPartial.Authority);

    /// <summary>A free loopback port's address (free when asked; the service binds it a moment later).</summary>
    public static Uri Loopback()
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
