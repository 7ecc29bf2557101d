using System.Diagnostics;
using System.Globalization;

namespace Drover.Bench;

/// <summary>Submit, end-to-end, latency and query figures, all through the public API.</summary>
internal static class JobScenarios
{
    private static Api Gateway(ScenarioContext c) => new(c.Target.GatewayUrl);
    private static Api Scheduler(ScenarioContext c) => new(c.Target.SchedulerUrl, LocalSystem.SchedulerToken);

    /// <summary>
    /// 1. Accepted-and-durable submissions per second through the gateway: with every node drained (the submit path
    /// alone), then at 1, 16 and 64 clients and in batches while the jobs run.
    /// </summary>
    public static async Task SubmitAsync(ScenarioContext c)
    {
        using var api = Gateway(c);
        var body = Api.TrueJob();
        var perBatch = c.Options.Size(10_000, 1_000);
        var batch = "{\"jobs\": [" + string.Join(',', Enumerable.Repeat(body, perBatch)) + "]}";

        // With every node drained nothing runs, so these figures are the submit path's (and the placement passes'
        // that find no node), not shared with the jobs' processes as the figures below are. Measured first, they
        // may still carry some compilation after the warm-up (see the README). The jobs run afterwards.
        var first = await api.SubmitAsync(body);
        await api.SetAllDrainedAsync(true);
        try
        {
            // Warm the services up first: measured cold, the first thousand submissions are mostly the JIT's.
            await Load.RunAsync(c.Options.Size(5_000, 50), 16, _ => api.SubmitAsync(body));
            await api.SubmitBatchAsync("{\"jobs\": [" + string.Join(',', Enumerable.Repeat(body, 100)) + "]}");
            var queued = c.Options.Size(5_000, 100);
            var (_, alone) = await Load.RunAsync(queued, 64, _ => api.SubmitAsync(body));
            c.Report.Add("submit.drained.c64.jobs_per_s", queued / alone.TotalSeconds, "jobs/s");
            var (_, batchAlone) = await Load.RunAsync(2, 2, _ => api.SubmitBatchAsync(batch));
            c.Report.Add("submit.drained.batch.jobs_per_s", 2 * perBatch / batchAlone.TotalSeconds, "jobs/s");
        }
        finally
        {
            await api.SetAllDrainedAsync(false);
        }
        await api.WaitAllStoppedAsync(first - 1, TimeSpan.FromMinutes(10));

        foreach (var clients in new[] { 1, 16, 64 })
        {
            var n = c.Options.Size(clients == 1 ? 1_000 : 5_000, 100);
            var (latencies, elapsed) = await Load.RunAsync(n, clients, _ => api.SubmitAsync(body));
            c.Report.Add($"submit.c{clients}.jobs_per_s", n / elapsed.TotalSeconds, "jobs/s");
            c.Report.AddLatencies($"submit.c{clients}", latencies);
        }
        // The same jobs through POST /scheduler/jobs/batch: batches of up to 10,000 (Scheduler:MaxDagJobs), four sent at
        // once, timed from the first send to the last 202.
        var total = Math.Max(perBatch, c.Options.Size(50_000, 2_000));
        var batches = (total + perBatch - 1) / perBatch;
        var (_, batchElapsed) = await Load.RunAsync(batches, 4, _ => api.SubmitBatchAsync(batch));
        c.Report.Add("submit.batch.jobs_per_s", batches * perBatch / batchElapsed.TotalSeconds, "jobs/s");
        // Let the submitted jobs drain so that the next scenario starts on an idle system.
        await api.WaitAllStoppedAsync(0, TimeSpan.FromMinutes(10));
    }

    /// <summary>2. Trivial jobs from first submit to the last one stopped, through the gateway and straight to the scheduler.</summary>
    public static async Task EndToEndAsync(ScenarioContext c)
    {
        await FloorScenario.EnsureMeasuredAsync(c);
        foreach (var (name, api) in new[] { ("gateway", Gateway(c)), ("scheduler", Scheduler(c)) })
        {
            using (api)
            {
                var n = c.Options.Size(10_000, 200);
                var first = await api.SubmitAsync(Api.TrueJob());
                await api.WaitAllStoppedAsync(first - 1, TimeSpan.FromMinutes(1));
                // The CPU window includes the waiting calls below (a few list calls every 20 ms): small beside n jobs.
                var cpu = CpuWindow.Start(c.Target);
                var clock = Stopwatch.StartNew();
                await Load.RunAsync(n, 64, _ => api.SubmitAsync(Api.TrueJob()));
                await api.WaitAllStoppedAsync(first, TimeSpan.FromMinutes(10));
                var elapsed = clock.Elapsed;
                var good = await CountAllAsync(api, "status=good", first);
                var rate = n / elapsed.TotalSeconds;
                c.Report.Add($"e2e.{name}.jobs_per_s", rate, "jobs/s");
                c.Report.Add($"e2e.{name}.good", good, "jobs");
                c.Report.Add($"e2e.{name}.seconds", elapsed.TotalSeconds, "s");
                if (FloorScenario.SpawnsPerSecond is { } floor)
                    c.Report.Add($"e2e.{name}.share_of_floor", 100 * rate / floor, "%");
                cpu.Report(c.Report, $"e2e.{name}", n);
            }
        }
    }

    /// <summary>3. On an idle system: submit → the job's own process started (it writes its clock), and submit → stopped.</summary>
    public static async Task LatencyAsync(ScenarioContext c)
    {
        await FloorScenario.EnsureMeasuredAsync(c);
        using var api = Gateway(c);
        var dir = Directory.CreateTempSubdirectory("drover-bench-latency-").FullName;
        try
        {
            var toStart = new List<double>();
            var toStopped = new List<double>();
            var n = c.Options.Size(200, 20);
            var cpu = CpuWindow.Start(c.Target);
            for (var i = 0; i < n; i++)
            {
                var file = Path.Combine(dir, i.ToString(CultureInfo.InvariantCulture));
                var body = Api.Json(new { commands = new[] { new { exec = new[] { "/bin/sh", "-c", "date +%s%N > \"$1\"", "sh", file } } } });
                var submitted = NowNanoseconds();
                var clock = Stopwatch.StartNew();
                var id = await api.SubmitAsync(body);
                // Poll the status tightly: this is the client's view, until /scheduler/events lets it follow instead.
                while ((await api.StatusAsync(id)).State != Drover.Contracts.JobState.Stopped)
                    await Task.Delay(1);
                toStopped.Add(clock.Elapsed.TotalMilliseconds);
                var started = long.Parse(File.ReadAllText(file).Trim(), CultureInfo.InvariantCulture);
                toStart.Add((started - submitted) / 1e6);
            }
            c.Report.AddLatencies("latency.submit_to_start", toStart);
            c.Report.AddLatencies("latency.submit_to_stopped_polled", toStopped);
            // One job at a time, polled every millisecond: the polling is part of what this costs per job.
            cpu.Report(c.Report, "latency", n);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>4. Status and filtered list calls with many jobs in the store (they wait on a node that never exists).</summary>
    public static async Task QueriesAsync(ScenarioContext c)
    {
        using var api = Scheduler(c);
        var stored = c.Options.Size(100_000, 2_000);
        var parked = Api.TrueJob(constraints: new { node = "bench-nowhere" });
        var ids = new long[stored];
        await Load.RunAsync(stored, 64, async i => ids[i] = await api.SubmitAsync(parked));
        var total = await CountAllAsync(api, "state=queued", 0);
        c.Report.Add("queries.jobs_stored", total, "jobs");

        var random = new Random(7);
        var (status, _) = await Load.RunAsync(c.Options.Size(5_000, 200), 1, _ => api.StatusAsync(ids[random.Next(ids.Length)]));
        c.Report.AddLatencies("queries.status", status);
        var (list, _) = await Load.RunAsync(c.Options.Size(500, 50), 1, async _ =>
        {
            using var response = await api.GetAsync($"/scheduler/jobs?state=stopped&status=good&limit=100&after={ids[random.Next(ids.Length)]}");
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsByteArrayAsync();
        });
        c.Report.AddLatencies("queries.list_filtered_100", list);
    }

    internal static async Task<int> CountAllAsync(Api api, string filter, long afterId)
    {
        // The list pages at 10,000: count page by page.
        var total = 0;
        while (true)
        {
            var page = await api.CountAsync(filter, afterId);
            total += page;
            if (page < 10_000)
                return total;
            afterId = await LastIdAsync(api, filter, afterId);
        }
    }

    private static async Task<long> LastIdAsync(Api api, string filter, long afterId)
    {
        using var request = await api.GetAsync($"/scheduler/jobs?{filter}&after={afterId}&limit=10000");
        var text = await request.Content.ReadAsStringAsync();
        // JSON page: take the largest job_id seen.
        using var doc = System.Text.Json.JsonDocument.Parse(text);
        return doc.RootElement.GetProperty("jobs").EnumerateArray().Max(j => j.GetProperty("job_id").GetInt64());
    }

    private static long NowNanoseconds() => (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks * 100;
}
