using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Drover.Processor;
using Drover.Testing;
using Microsoft.AspNetCore.Builder;

namespace Drover.Scheduler.Tests;

/// <summary>
/// A real scheduler (in process, or as a child process) and real Processors, each on its own free 127.0.0.1 port
/// and temporary directory, with short intervals so that tests stay quick.
/// </summary>
public sealed class Cluster : IAsyncDisposable
{
    public static readonly string[] FastScheduler =
    [
        "--Scheduler:PollInterval=00:00:00.200",
        "--Scheduler:ReconcileInterval=00:00:01",
        "--Scheduler:HeartbeatTimeout=00:00:02",
        "--Scheduler:NodeBackoff=00:00:00.500",
        "--Scheduler:RetryBackoffBase=00:00:00.100",
        "--Scheduler:RetryBackoffMax=00:00:00.400",
        "--Scheduler:NodeCallTimeout=00:00:05",
    ];

    private readonly List<ProcessorNode> _nodes = [];
    private Process? _child;
    private string[] _schedulerSettings = [];

    private Cluster(string directory, string? database)
    {
        Directory = directory;
        Database = database ?? Path.Combine(directory, "scheduler.db");
    }

    public string Directory { get; }
    public WebApplication? Scheduler { get; private set; }
    public Uri SchedulerAddress { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;
    public IReadOnlyList<ProcessorNode> Nodes => _nodes;
    /// <summary>The SQLite file under <see cref="Directory"/>, or a fresh PostgreSQL database's URI.</summary>
    public string Database { get; }

    /// <summary>A connection to the cluster's store, as the scheduler's own engine would open it (for tests that set up what a crash leaves).</summary>
    public async Task<System.Data.Common.DbConnection> OpenDatabaseAsync()
    {
        System.Data.Common.DbConnection connection = Storage.SqlDialect.IsPostgres(Database)
            ? new Npgsql.NpgsqlConnection(Storage.Postgres.PostgresDialect.ConnectionString(Database))
            : new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Database}");
        await connection.OpenAsync();
        return connection;
    }

    public static Task<Cluster> StartAsync(int processors = 1, params string[] schedulerSettings) =>
        StartOnAsync(processors, null, schedulerSettings);

    /// <param name="database">Null for a SQLite file of its own; else the store every scheduler of the cluster uses.</param>
    public static async Task<Cluster> StartOnAsync(int processors, string? database, params string[] schedulerSettings)
    {
        var cluster = new Cluster(System.IO.Directory.CreateDirectory(
            Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"))).FullName, database);
        await cluster.StartSchedulerAsync(schedulerSettings);
        for (var i = 0; i < processors; i++)
            await cluster.AddNodeAsync($"n{i + 1}");
        return cluster;
    }

    private string[] SchedulerArgs(string url, string[] settings) =>
    [
        "--urls", url,
        $"--Scheduler:Database={Database}",
        $"--Scheduler:DataDirectory={Path.Combine(Directory, "uploads")}",
        .. FastScheduler,
        .. settings,
    ];

    private async Task StartSchedulerAsync(string[] settings)
    {
        _schedulerSettings = settings;
        Scheduler = SchedulerApp.Create(SchedulerArgs("http://127.0.0.1:0", settings));
        await Scheduler.StartAsync();
        SchedulerAddress = new Uri(Scheduler.Urls.First());
        Client = new HttpClient { BaseAddress = SchedulerAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>Stops the in-process scheduler (its store stays); <see cref="RestartSchedulerAsync"/> starts a new one over it.</summary>
    public async Task StopSchedulerAsync()
    {
        await Scheduler!.StopAsync();
        await Scheduler.DisposeAsync();
        Scheduler = null;
        Client.Dispose();
    }

    public Task RestartSchedulerAsync() => StartSchedulerAsync(_schedulerSettings);

    /// <summary>Runs the scheduler as a child process instead (so that it can be killed with SIGKILL).</summary>
    public static async Task<Cluster> StartWithChildSchedulerAsync(int processors, string? database, params string[] schedulerSettings)
    {
        var cluster = new Cluster(System.IO.Directory.CreateDirectory(
            Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"))).FullName, database);
        cluster._schedulerSettings = schedulerSettings;
        cluster.SchedulerAddress = new Uri($"http://127.0.0.1:{FreePort()}");
        cluster.Client = new HttpClient { BaseAddress = cluster.SchedulerAddress, Timeout = TimeSpan.FromSeconds(60) };
        await cluster.StartChildAsync();
        for (var i = 0; i < processors; i++)
            await cluster.AddNodeAsync($"n{i + 1}");
        return cluster;
    }

    public async Task StartChildAsync()
    {
        var dll = typeof(SchedulerApp).Assembly.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var arg in SchedulerArgs(SchedulerAddress.ToString().TrimEnd('/'), _schedulerSettings))
            start.ArgumentList.Add(arg);
        _child = Process.Start(start)!;
        _child.OutputDataReceived += (_, _) => { };
        _child.ErrorDataReceived += (_, _) => { };
        _child.BeginOutputReadLine();
        _child.BeginErrorReadLine();
        await Eventually(async () => (await TryGetAsync("/healthz")) == HttpStatusCode.OK, 60, "the scheduler child process to answer");
    }

    public async Task KillChildAsync()
    {
        _child!.Kill(entireProcessTree: false); // SIGKILL
        await _child.WaitForExitAsync();
        _child.Dispose();
        _child = null;
    }

    private async Task<HttpStatusCode?> TryGetAsync(string path)
    {
        try
        {
            using var response = await Client.GetAsync(path);
            return response.StatusCode;
        }
        catch (HttpRequestException)
        {
            return null;
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts a Processor that registers with the scheduler by heartbeat.</summary>
    public async Task<ProcessorNode> AddNodeAsync(string name, int slots = 4, params string[] settings)
    {
        var node = await StartProcessorAsync(Directory, name, slots, [$"--Processor:SchedulerUrl={SchedulerAddress}", .. settings]);
        _nodes.Add(node);
        await Eventually(async () => (await NodesAsync()).Any(n => n.Name == name && n.Health == NodeHealth.Up), 30, $"node {name} to register");
        return node;
    }

    /// <summary>Starts a Processor on its own port and state directory under <paramref name="directory"/>.</summary>
    public static async Task<ProcessorNode> StartProcessorAsync(string directory, string name, int slots, params string[] settings)
    {
        var state = System.IO.Directory.CreateDirectory(Path.Combine(directory, "node-" + name + "-" + Guid.NewGuid().ToString("N")[..6])).FullName;
        // An explicit port: a Processor bound to port 0 may advertise ":0" if its first heartbeat beats the bind.
        var app = ProcessorApp.Create(
        [
            "--urls", $"http://127.0.0.1:{FreePort()}",
            $"--Processor:StateDirectory={state}",
            $"--Processor:Name={name}",
            $"--Processor:Slots={slots}",
            "--Processor:HeartbeatInterval=00:00:00.300",
            "--Processor:KillGracePeriod=00:00:01",
            .. settings,
        ]);
        await app.StartAsync();
        return new ProcessorNode(name, app, state);
    }

    /// <summary>Calls the scheduler with this bearer token from now on.</summary>
    public void UseToken(string token) =>
        Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);

    public async Task<IReadOnlyList<NodeView>> NodesAsync(string path = "/scheduler/nodes") =>
        (await Client.GetFromJsonAsync<NodeViewList>(path, DroverJson.Options))!.Nodes;

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json) =>
        Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public Task<HttpResponseMessage> PostFormAsync(string path, params (string Key, string Value)[] fields) =>
        Client.PostAsync(path, new FormUrlEncodedContent(fields.Select(f => new KeyValuePair<string, string>(f.Key, f.Value))));

    /// <summary>Submits a job as JSON and expects 202; returns its id.</summary>
    public async Task<long> SubmitAsync(object spec)
    {
        using var response = await PostJsonAsync("/scheduler/jobs/new", spec as string ?? JsonSerializer.Serialize(spec, DroverJson.Options));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<SubmitAnswer>(body, DroverJson.Options)!.JobId;
    }

    public async Task<JobStatusView> StatusAsync(long id) =>
        (await Client.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!;

    public async Task<JobRecord> JobAsync(long id) =>
        (await Client.GetFromJsonAsync<JobRecord>($"/scheduler/jobs/{id}", DroverJson.Options))!;

    public async Task<QueueEntry> QueueEntryAsync(long id) =>
        (await Client.GetFromJsonAsync<QueueEntry>($"/scheduler/queue/{id}", DroverJson.Options))!;

    /// <summary>Waits (generously: the machine may be loaded) until the job satisfies the condition.</summary>
    public async Task<JobStatusView> WaitForAsync(long id, Func<JobStatusView, bool> condition, int seconds = 45)
    {
        JobStatusView? last = null;
        await Eventually(async () => condition(last = await StatusAsync(id)), seconds,
            () => $"job {id} (last seen {last?.State}/{last?.Status}/{last?.Reason}, attempts {last?.Attempts}, queue: {last?.QueueReason})");
        return last!;
    }

    public Task<JobStatusView> WaitStoppedAsync(long id, int seconds = 45) => WaitForAsync(id, s => s.State == JobState.Stopped, seconds);

    public static Task Eventually(Func<Task<bool>> condition, int seconds, string what) => Eventually(condition, seconds, () => what);

    public static async Task Eventually(Func<Task<bool>> condition, int seconds, Func<string> what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {seconds} s for {what()}");
            await Task.Delay(50);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_child is not null)
        {
            _child.Kill();
            await _child.WaitForExitAsync();
            _child.Dispose();
        }
        if (Scheduler is not null)
        {
            await Scheduler.StopAsync();
            await Scheduler.DisposeAsync();
        }
        foreach (var node in _nodes)
            await node.DisposeAsync();
        Client.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a job's process may still be writing; the temp directory is cleaned up by the system
        }
    }
}

/// <summary>A Processor of the cluster.</summary>
public sealed class ProcessorNode(string name, WebApplication app, string state) : IAsyncDisposable
{
    private bool _stopped;

    public string Name { get; } = name;
    public WebApplication App { get; } = app;
    public string StateDirectory { get; } = state;
    public Uri Address => new(App.Urls.First());

    /// <summary>Stops the node (as a lost machine would stop answering).</summary>
    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public ValueTask DisposeAsync() => new(StopAsync());
}

/// <summary>
/// A fresh cluster for each test of a class (xunit makes a new instance per test), over a SQLite file of its own; the
/// same tests run over PostgreSQL in a class that derives from it and says <see cref="OnPostgres"/> (one suite, two
/// engines).
/// </summary>
public abstract class ClusterTest(int processors, params string[] schedulerSettings) : IAsyncLifetime
{
    protected Cluster Cluster { get; set; } = null!;

    /// <summary>Run over a fresh database of the tests' own PostgreSQL server instead of a SQLite file.</summary>
    protected virtual bool OnPostgres => false;

    /// <summary>The database the cluster uses: null for its own SQLite file.</summary>
    protected async Task<string?> DatabaseAsync() => OnPostgres ? await SharedPostgres.CreateDatabaseAsync() : null;

    public virtual async Task InitializeAsync() => Cluster = await Cluster.StartOnAsync(processors, await DatabaseAsync(), schedulerSettings);

    public virtual async Task DisposeAsync() => await Cluster.DisposeAsync();
}
