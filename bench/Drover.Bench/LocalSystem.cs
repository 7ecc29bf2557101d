using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace Drover.Bench;

/// <summary>A running service the benchmark can measure: its name and process (null when it runs elsewhere).</summary>
internal sealed record Service(string Name, Process? Process);

/// <summary>Where the benchmark sends its calls.</summary>
internal sealed record Target(string GatewayUrl, string SchedulerUrl, IReadOnlyList<Service> Services);

/// <summary>
/// The trio as <c>drover dev</c> runs it, but each service in its own process (so that each one's memory can be read),
/// from the Release build next to this benchmark, on free loopback ports, with a fresh data folder.
/// </summary>
internal sealed class LocalSystem : IAsyncDisposable
{
    private readonly List<Process> _processes = [];
    private readonly string _data;

    private LocalSystem(string data, Target target)
    {
        _data = data;
        Target = target;
    }

    public Target Target { get; private set; }

    /// <summary>
    /// Starts the system; a start that fails (a service that never answers, e.g. because another program bound its
    /// port between the probe and the service's own bind) is torn down and tried again on other ports, twice at most.
    /// </summary>
    public static async Task<LocalSystem> StartAsync(BenchOptions options)
    {
        for (var attempt = 1; ; attempt++)
        {
            var data = Directory.CreateTempSubdirectory("drover-bench-").FullName;
            var system = new LocalSystem(data, new Target("", "", []));
            try
            {
                await system.StartServicesAsync(options);
                return system;
            }
            catch (TimeoutException e) when (attempt < 3)
            {
                Console.Error.WriteLine($"# the system did not start ({e.Message}); trying again on other ports");
                await system.DisposeAsync();
            }
            catch
            {
                await system.DisposeAsync();
                throw;
            }
        }
    }

    private async Task StartServicesAsync(BenchOptions options)
    {
        var schedulerToken = NewToken();
        var nodeToken = NewToken();
        var jobKey = NewToken();
        // Every port of the system picked before any service starts, none twice: a port probed free and let go can
        // be handed out again by the next probe.
        var taken = new HashSet<int>();
        var gatewayUrl = $"http://127.0.0.1:{FreePort(taken)}";
        // Several schedulers listen on consecutive ports, all on one database and one upload folder.
        var schedulerUrls = ConsecutivePorts(options.Schedulers, taken).Select(p => $"http://127.0.0.1:{p}").ToList();
        var processorPorts = Enumerable.Range(0, options.Processors).Select(_ => FreePort(taken)).ToList();
        var database = options.Database ?? Path.Combine(_data, "scheduler.db");
        Target = new Target(gatewayUrl, schedulerUrls[0], []);
        var services = new List<Service>();

        for (var i = 0; i < schedulerUrls.Count; i++)
        {
            var name = schedulerUrls.Count == 1 ? "scheduler" : $"scheduler{i}";
            services.Add(LaunchScheduler(name, schedulerUrls[i], database, schedulerToken, nodeToken, jobKey, gatewayUrl));
        }
        foreach (var url in schedulerUrls)
            await WaitHealthyAsync(url);

        var processorUrls = new List<string>();
        for (var i = 0; i < options.Processors; i++)
        {
            var url = $"http://127.0.0.1:{processorPorts[i]}";
            processorUrls.Add(url);
            services.Add(Launch($"processor{i}", "Drover.Processor",
            [
                "--urls", url,
                $"--Processor:Name=bench{i}",
                $"--Processor:StateDirectory={Path.Combine(_data, $"processor{i}")}",
                string.Create(CultureInfo.InvariantCulture, $"--Processor:Slots={options.SlotsPerProcessor}"),
                $"--Processor:Token={nodeToken}",
                .. Indexed("Processor:SchedulerUrls", schedulerUrls),
                $"--Processor:SchedulerToken={schedulerToken}",
                "--Serilog:MinimumLevel:Default=Warning",
            ]));
        }

        services.Add(Launch("gateway", "Drover.Gateway",
        [
            "--urls", gatewayUrl,
            .. Indexed("Gateway:SchedulerUrls", schedulerUrls),
            $"--Gateway:SchedulerToken={schedulerToken}",
            $"--Gateway:ProcessorUrl={processorUrls[0]}",
            $"--Gateway:ProcessorToken={nodeToken}",
            $"--Gateway:NodeToken={nodeToken}",
            $"--Gateway:JobTokenKey={jobKey}",
            "--Serilog:MinimumLevel:Default=Warning",
        ]));

        foreach (var url in processorUrls.Append(gatewayUrl))
            await WaitHealthyAsync(url);
        await WaitForNodesAsync(schedulerUrls[0], schedulerToken, options.Processors);

        // The benchmark calls the scheduler directly too (to see the gateway's share), so it carries the scheduler's token.
        Target = new Target(gatewayUrl, schedulerUrls[0], services);
        SchedulerToken = schedulerToken;
    }

    /// <summary><c>--Section:Name:0=a --Section:Name:1=b …</c>: a list option as configuration reads it from arguments.</summary>
    private static IEnumerable<string> Indexed(string key, IReadOnlyList<string> values) =>
        values.Select((v, i) => string.Create(CultureInfo.InvariantCulture, $"--{key}:{i}={v}"));

    /// <summary>The token for calls straight to the scheduler (the gateway adds it itself).</summary>
    public static string? SchedulerToken { get; private set; }

    /// <summary>
    /// A scheduler alone, with a fresh database and no Processors, for scenarios that bring nodes of their own
    /// (so that no real Processor takes their jobs). <see cref="Target"/>'s both URLs are the scheduler's.
    /// </summary>
    /// <summary>
    /// Schedulers alone (no gateway, no Processors) on <paramref name="database"/> (a fresh SQLite file when null);
    /// the target is the first of them, the one the light nodes heartbeat to.
    /// </summary>
    public static async Task<(LocalSystem System, string Token, string NodeToken)> StartSchedulerAsync(string? database = null, int schedulers = 1)
    {
        var data = Directory.CreateTempSubdirectory("drover-bench-").FullName;
        var (token, nodeToken, jobKey) = (NewToken(), NewToken(), NewToken());
        var urls = ConsecutivePorts(schedulers, []).Select(p => $"http://127.0.0.1:{p}").ToList();
        var system = new LocalSystem(data, new Target(urls[0], urls[0], []));
        try
        {
            database ??= Path.Combine(data, "scheduler.db");
            system.Target = new Target(urls[0], urls[0],
                [.. urls.Select((url, i) => system.LaunchScheduler(schedulers == 1 ? "scheduler" : $"scheduler{i}", url, database, token, nodeToken, jobKey, url))]);
            foreach (var url in urls)
                await WaitHealthyAsync(url);
            return (system, token, nodeToken);
        }
        catch
        {
            await system.DisposeAsync();
            throw;
        }
    }

    private Service LaunchScheduler(string name, string url, string database, string token, string nodeToken, string jobKey, string publicUrl) =>
        Launch(name, "Drover.Scheduler",
            "--urls", url,
            $"--Scheduler:Database={database}",
            $"--Scheduler:DataDirectory={Path.Combine(_data, "uploads")}",
            $"--Scheduler:Token={token}",
            $"--Scheduler:NodeToken={nodeToken}",
            $"--Scheduler:JobTokenKey={jobKey}",
            $"--Scheduler:PublicUrl={publicUrl}",
            "--Serilog:MinimumLevel:Default=Warning");

    private Service Launch(string name, string assembly, params string[] args)
    {
        var dll = Path.Combine(BuildDirectory(assembly), assembly + ".dll");
        if (!File.Exists(dll))
            throw new FileNotFoundException($"{dll} is missing: build the solution in Release first (dotnet build -c Release).");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(dll);
        foreach (var a in args)
            start.ArgumentList.Add(a);
        var process = Process.Start(start)!;
        // Drain the services' output so a full pipe never stalls them; show only errors.
        process.OutputDataReceived += (_, e) => { if (e.Data?.Contains(" ERR ", StringComparison.Ordinal) == true) Console.Error.WriteLine($"[{name}] {e.Data}"); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Console.Error.WriteLine($"[{name}] {e.Data}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes.Add(process);
        return new Service(name, process);
    }

    /// <summary>src/Drover.X/bin/&lt;configuration&gt;/net10.0, the configuration being the benchmark's own.</summary>
    private static string BuildDirectory(string assembly)
    {
        var here = new DirectoryInfo(AppContext.BaseDirectory); // bench/Drover.Bench/bin/<cfg>/net10.0/
        var configuration = here.Parent!.Name;
        var root = here;
        while (root is not null && !File.Exists(Path.Combine(root.FullName, "Scheduler.sln")))
            root = root.Parent;
        if (root is null)
            throw new InvalidOperationException("cannot find the repository root (Scheduler.sln) above " + AppContext.BaseDirectory);
        return Path.Combine(root.FullName, "src", assembly, "bin", configuration, here.Name);
    }

    private static async Task WaitHealthyAsync(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await http.GetAsync(url + "/healthz")).IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{url} did not become healthy");
    }

    private static async Task WaitForNodesAsync(string schedulerUrl, string token, int count)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            using var api = new Api(schedulerUrl, token);
            try
            {
                if (await api.CountNodesAsync() >= count)
                    return;
            }
            catch (HttpRequestException) { }
            await Task.Delay(100);
        }
        throw new TimeoutException($"the scheduler did not see {count} processors");
    }

    /// <summary>The first of <paramref name="count"/> free loopback ports in a row (tried a few times: another program may take one meanwhile).</summary>
    private static List<int> ConsecutivePorts(int count, HashSet<int> taken)
    {
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var first = FreePort(taken);
            taken.Remove(first);
            if (first + count - 1 > IPEndPoint.MaxPort || Enumerable.Range(first, count).Any(taken.Contains))
                continue;
            var listeners = new List<TcpListener>();
            try
            {
                for (var p = first; p < first + count; p++)
                {
                    var listener = new TcpListener(IPAddress.Loopback, p);
                    listener.Start();
                    listeners.Add(listener);
                }
                taken.UnionWith(Enumerable.Range(first, count));
                return [.. Enumerable.Range(first, count)];
            }
            catch (SocketException)
            {
            }
            finally
            {
                foreach (var listener in listeners)
                    listener.Stop();
            }
        }
        throw new InvalidOperationException($"found no {count} free loopback ports in a row");
    }

    /// <summary>A free loopback port not in <paramref name="taken"/>, which it joins.</summary>
    private static int FreePort(HashSet<int> taken)
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            if (taken.Add(port))
                return port;
        }
    }

    private static string NewToken() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes)
        {
            try
            {
                p.Kill(entireProcessTree: true);
                await p.WaitForExitAsync();
            }
            catch (InvalidOperationException) { }
            p.Dispose();
        }
        try { Directory.Delete(_data, recursive: true); } catch (IOException) { }
    }
}
