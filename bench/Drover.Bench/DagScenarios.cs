using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Text;
using Drover.Contracts;

namespace Drover.Bench;

/// <summary>5. DAGs: an afterok chain, a fan-out with a fan-in, and a walk of a large DAG.</summary>
internal static class DagScenarios
{
    private static readonly string[] True = ["/bin/true"];

    // The DAG sizes are the goals' own and cheap enough to run whole, so --scale leaves them alone.
    public static async Task RunAsync(ScenarioContext c)
    {
        await FloorScenario.EnsureMeasuredAsync(c);
        using var http = new HttpClient { BaseAddress = new Uri(c.Target.GatewayUrl), Timeout = TimeSpan.FromMinutes(5) };
        using var api = new Api(c.Target.GatewayUrl);

        // A chain: each job depends (afterok) on the one before. Timed from the request to the last job stopped.
        var chain = c.Options.Quick ? 10 : 50;
        var chainJobs = Enumerable.Range(0, chain).ToDictionary(
            i => Name(i),
            i => Job(i == 0 ? null : [Name(i - 1)]));
        var cpu = CpuWindow.Start(c.Target);
        var (elapsed, last) = await RunDagAsync(http, api, chainJobs, Name(chain - 1));
        c.Report.Add($"dag.chain{chain}.seconds", elapsed.TotalSeconds, "s");
        c.Report.Add($"dag.chain{chain}.jobs_per_s", chain / elapsed.TotalSeconds, "jobs/s");
        c.Report.Add($"dag.chain{chain}.last_status_good", last.Status == JobStatus.Good ? 1 : 0, "bool");
        cpu.Report(c.Report, $"dag.chain{chain}", chain);

        // A fan-out from one job to many, and one job after all of them.
        var fan = c.Options.Quick ? 50 : 1_000;
        var fanJobs = new Dictionary<string, object> { ["root"] = Job(null) };
        for (var i = 0; i < fan; i++)
            fanJobs[Name(i)] = Job(["root"]);
        fanJobs["sink"] = Job([.. Enumerable.Range(0, fan).Select(Name)]);
        cpu = CpuWindow.Start(c.Target);
        (elapsed, last) = await RunDagAsync(http, api, fanJobs, "sink");
        c.Report.Add($"dag.fan{fan}.seconds", elapsed.TotalSeconds, "s");
        c.Report.Add($"dag.fan{fan}.jobs_per_s", fanJobs.Count / elapsed.TotalSeconds, "jobs/s");
        c.Report.Add($"dag.fan{fan}.sink_status_good", last.Status == JobStatus.Good ? 1 : 0, "bool");
        cpu.Report(c.Report, $"dag.fan{fan}", fanJobs.Count);

        // A walk of a large DAG. Its jobs wait on a node that does not exist, so the graph stays put while it is read.
        var size = c.Options.Quick ? 500 : 10_000;
        var parked = new { node = "bench-nowhere" };
        var bigJobs = new Dictionary<string, object> { ["root"] = new { commands = new[] { new { exec = True } }, constraints = parked } };
        for (var i = 1; i < size; i++)
            bigJobs[Name(i)] = new { commands = new[] { new { exec = True } }, constraints = parked, depends_on = new[] { i < 100 ? "root" : Name(i / 100) } };
        var answer = await SubmitDagAsync(http, bigJobs);
        var walks = new List<double>();
        for (var i = 0; i < c.Options.Size(20, 3); i++)
        {
            var clock = Stopwatch.StartNew();
            using var response = await http.GetAsync($"/scheduler/jobs/{answer.Jobs[Name(size - 1)]}/dag");
            response.EnsureSuccessStatusCode();
            await response.Content.ReadAsByteArrayAsync();
            walks.Add(clock.Elapsed.TotalMilliseconds);
        }
        c.Report.AddLatencies($"dag.walk{size}", walks);
    }

    private static object Job(string[]? dependsOn) => dependsOn is null
        ? new { commands = new[] { new { exec = True } } }
        : new { commands = new[] { new { exec = True } }, depends_on = dependsOn };

    private static string Name(int i) => "j" + i.ToString(CultureInfo.InvariantCulture);

    private static async Task<(TimeSpan Elapsed, JobStatusView Last)> RunDagAsync(HttpClient http, Api api, IReadOnlyDictionary<string, object> jobs, string lastName)
    {
        var clock = Stopwatch.StartNew();
        var answer = await SubmitDagAsync(http, jobs);
        var lastId = answer.Jobs[lastName];
        while (true)
        {
            var status = await api.StatusAsync(lastId);
            if (status.State == JobState.Stopped)
                return (clock.Elapsed, status);
            if (clock.Elapsed > TimeSpan.FromMinutes(10))
                throw new TimeoutException($"job {lastName} of the DAG did not stop");
            await Task.Delay(5);
        }
    }

    private static async Task<DagAnswer> SubmitDagAsync(HttpClient http, IReadOnlyDictionary<string, object> jobs)
    {
        using var content = new StringContent(Api.Json(new { jobs }), Encoding.UTF8, "application/json");
        using var response = await http.PostAsync("/scheduler/dags/new", content);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"dags/new answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<DagAnswer>(DroverJson.Options))!;
    }
}
