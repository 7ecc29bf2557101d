using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;

namespace Drover.Bench;

/// <summary>
/// 6. Placement at scale: a full queue, then 10 (and then 1,000) light nodes register, and the clock runs until every
/// job has stopped <c>good</c>. Each run has a scheduler of its own (fresh database, no Processors), so that no real
/// Processor takes the jobs and the runs do not share nodes. In a <c>--stores</c> run of PostgreSQL the run gets a
/// fresh database on that server and as many schedulers as the store names (the nodes heartbeat to the first; all
/// of them place), so placements/s stand beside SQLite's.
/// </summary>
internal static class ScaleScenario
{
    /// <summary>Slots per light node: more than a placement pass ever hands one node, so slots are never the limit.</summary>
    private const int SlotsPerNode = 1_000;

    /// <summary>Jobs per <c>POST /scheduler/dags/new</c>: Scheduler:MaxDagJobs by default.</summary>
    private const int DagBatch = 10_000;

    private static readonly string[] True = ["/bin/true"];

    public static async Task RunAsync(ScenarioContext c)
    {
        var jobs = c.Options.Size(100_000, 200);
        c.Report.Add("scale.jobs", jobs, "jobs");
        c.Report.Add("scale.slots_per_node", SlotsPerNode, "slots");
        foreach (var nodes in new[] { 10, 1_000 })
            await RunOnceAsync(c, nodes, jobs);
    }

    private static async Task RunOnceAsync(ScenarioContext c, int nodeCount, int jobs)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"scale.{nodeCount}_nodes");
        var database = c.FreshDatabase is { } fresh ? await fresh() : null;
        var (system, token, nodeToken) = await LocalSystem.StartSchedulerAsync(database, database is null ? 1 : c.Options.Schedulers);
        await using var _ = system;
        using var scheduler = new HttpClient { BaseAddress = new Uri(system.Target.SchedulerUrl + "/"), Timeout = TimeSpan.FromMinutes(5) };
        scheduler.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var api = new Api(system.Target.SchedulerUrl, token);

        // Queue every job while no node is registered: DAG requests without edges, the fewest calls that store them.
        var bodies = Batches(jobs);
        var clock = Stopwatch.StartNew();
        await Parallel.ForEachAsync(bodies, new ParallelOptions { MaxDegreeOfParallelism = 2 }, async (body, token) =>
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await scheduler.PostAsync("scheduler/dags/new", content, token);
            if (!response.IsSuccessStatusCode)
                throw new HttpRequestException($"dags/new answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(token)}");
        });
        var fill = clock.Elapsed;
        c.Report.Add($"{name}.queue_fill_s", fill.TotalSeconds, "s");
        c.Report.Add($"{name}.queue_fill_jobs_per_s", jobs / fill.TotalSeconds, "jobs/s");
        var queued = await JobScenarios.CountAllAsync(api, "state=queued", 0);
        if (queued != jobs)
            throw new InvalidOperationException($"{queued} of {jobs} jobs are queued before any node registered");

        await using var nodes = await SimulatedNodes.StartAsync(nodeCount, SlotsPerNode, nodeToken);
        using var stop = new CancellationTokenSource();
        var schedulerProcesses = system.Target.Services.Select(s => s.Process!).ToList();
        var schedulerCpu = SchedulerCpu(schedulerProcesses);
        var ownCpu = Process.GetCurrentProcess().TotalProcessorTime;
        clock.Restart();
        await nodes.HeartbeatAllAsync(scheduler, stop.Token);
        var registered = clock.Elapsed;
        var alive = nodes.KeepAliveAsync(scheduler, stop.Token);
        try
        {
            await WaitAllStoppedAsync(api, nodes, jobs, name);
        }
        finally
        {
            await stop.CancelAsync();
            await alive;
        }
        var elapsed = clock.Elapsed;
        schedulerCpu = SchedulerCpu(schedulerProcesses) - schedulerCpu;
        ownCpu = Process.GetCurrentProcess().TotalProcessorTime - ownCpu;

        c.Report.Add($"{name}.placements_per_s", jobs / elapsed.TotalSeconds, "jobs/s");
        c.Report.Add($"{name}.seconds", elapsed.TotalSeconds, "s");
        c.Report.Add($"{name}.registration_s", registered.TotalSeconds, "s");
        c.Report.Add($"{name}.good", await JobScenarios.CountAllAsync(api, "status=good", 0), "jobs");
        c.Report.Add($"{name}.starts", nodes.Starts, "starts");
        c.Report.Add($"{name}.nodes_used", nodes.NodesUsed, "nodes");
        // Where the two cores went meanwhile: the scheduler, and this process (the light nodes and the waiting).
        c.Report.Add($"{name}.scheduler_cpu_s", schedulerCpu.TotalSeconds, "s");
        c.Report.Add($"{name}.bench_cpu_s", ownCpu.TotalSeconds, "s");
    }

    private static TimeSpan SchedulerCpu(List<Process> schedulers)
    {
        var total = TimeSpan.Zero;
        foreach (var process in schedulers)
        {
            process.Refresh();
            total += process.TotalProcessorTime;
        }
        return total;
    }

    /// <summary>The DAG request bodies, built before the clock starts so that only the scheduler's work is timed.</summary>
    private static List<string> Batches(int jobs)
    {
        var job = new { commands = new[] { new { exec = True } } };
        var bodies = new List<string>();
        for (var first = 0; first < jobs; first += DagBatch)
        {
            var names = Enumerable.Range(first, Math.Min(DagBatch, jobs - first)).Select(i => "j" + i.ToString(CultureInfo.InvariantCulture));
            bodies.Add(Api.Json(new { jobs = names.ToDictionary(n => n, _ => job) }));
        }
        return bodies;
    }

    /// <summary>
    /// Waits on the nodes' own count of starts (free: it asks the scheduler nothing while it works), then on the
    /// scheduler until no job is queued, placed or running. Fails when no start arrives for a minute.
    /// </summary>
    private static async Task WaitAllStoppedAsync(Api api, SimulatedNodes nodes, int jobs, string name)
    {
        var quiet = Stopwatch.StartNew();
        var told = Stopwatch.StartNew();
        var starts = nodes.Starts;
        var checkedAt = Stopwatch.StartNew();
        while (true)
        {
            if (nodes.Starts >= jobs || checkedAt.Elapsed > TimeSpan.FromSeconds(2))
            {
                checkedAt.Restart();
                var open = 0;
                foreach (var state in new[] { "queued", "placed", "running" })
                    open += await api.CountAsync($"state={state}", 0, limit: 1);
                if (open == 0)
                    return;
            }
            if (nodes.Starts != starts)
            {
                starts = nodes.Starts;
                quiet.Restart();
            }
            else if (quiet.Elapsed > TimeSpan.FromMinutes(1))
            {
                throw new TimeoutException($"{name}: placement stalled: {starts} of {jobs} jobs reached a node, none in the last minute");
            }
            if (told.Elapsed > TimeSpan.FromSeconds(10))
            {
                told.Restart();
                Console.Error.WriteLine($"# {name}: {starts} of {jobs} jobs started");
            }
            await Task.Delay(nodes.Starts >= jobs ? 20 : 10);
        }
    }
}
