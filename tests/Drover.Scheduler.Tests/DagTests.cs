using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>DAGs through real Processors: dependencies, DAG requests, walking, skipping, retry, kill across the graph.</summary>
public class DagTests() : ClusterTest(0)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.AddNodeAsync("n1", slots: 16);
        await Cluster.AddNodeAsync("n2", slots: 16);
    }

    internal static object Job(string shell, params object[] dependsOn) =>
        new Dictionary<string, object> { ["commands"] = new[] { new { shell } }, ["max_attempts"] = 1, ["depends_on"] = dependsOn };

    internal static async Task<DagAnswer> SubmitDagAsync(Cluster cluster, object dag)
    {
        using var response = await cluster.PostJsonAsync("/scheduler/dags/new", JsonSerializer.Serialize(dag, DroverJson.Options));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<DagAnswer>(body, DroverJson.Options)!;
    }

    internal static async Task<DagView> DagAsync(Cluster cluster, long id) =>
        (await cluster.Client.GetFromJsonAsync<DagView>($"/scheduler/jobs/{id}/dag", DroverJson.Options))!;

    internal static async Task<DagView> WaitDagStoppedAsync(Cluster cluster, long id)
    {
        DagView? dag = null;
        await Cluster.Eventually(async () => (dag = await DagAsync(cluster, id)).State == JobState.Stopped, 45,
            () => $"DAG of {id} to stop ({dag?.Jobs.Count(j => j.State != JobState.Stopped)} jobs not stopped)");
        return dag!;
    }

    [Fact]
    public async Task A_diamond_runs_each_job_after_its_dependencies_and_the_dag_shows_it()
    {
        var log = Path.Combine(Cluster.Directory, "diamond.log");
        var answer = await SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["d"] = Job($"echo d >> {log}", "b", new { job = "c", condition = "afterok" }),
                ["a"] = Job($"sleep 0.2; echo a >> {log}"),
                ["b"] = Job($"echo b >> {log}", "a"),
                ["c"] = Job($"sleep 0.2; echo c >> {log}", "a"),
            },
        });
        Assert.Equal(["a", "b", "c", "d"], answer.Jobs.Keys.Order());
        var dag = await WaitDagStoppedAsync(Cluster, answer.Jobs["d"]);
        Assert.Equal((JobState.Stopped, JobStatus.Good), (dag.State, dag.Status));
        Assert.Equal(answer.Jobs["a"], dag.Root);
        Assert.Equal(4, dag.Jobs.Count);
        Assert.Equal(4, dag.Edges.Count);
        Assert.Contains(new DagEdge(answer.Jobs["a"], answer.Jobs["b"], "afterok"), dag.Edges);
        Assert.Contains(new DagEdge(answer.Jobs["c"], answer.Jobs["d"], "afterok"), dag.Edges);

        var lines = await File.ReadAllLinesAsync(log);
        Assert.Equal("a", lines[0]);
        Assert.Equal("d", lines[^1]);
        var d = await Cluster.JobAsync(answer.Jobs["d"]);
        Assert.Equal([answer.Jobs["b"], answer.Jobs["c"]], d.DependsOn.Select(x => x.JobId!.Value).Order());
        var a = await Cluster.JobAsync(answer.Jobs["a"]);
        Assert.Equal([answer.Jobs["b"], answer.Jobs["c"]], a.Dependents.Select(x => x.JobId!.Value).Order());
        Assert.Equal(answer.Jobs["a"], d.Root);
    }

    [Fact]
    public async Task A_job_submitted_with_depends_on_waits_in_the_queue_and_says_on_what()
    {
        var gate = Path.Combine(Cluster.Directory, "gate");
        var first = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell($"while [ ! -f {gate} ]; do sleep 0.05; done")], MaxAttempts = 1 });
        var second = await Cluster.SubmitAsync($$$$"""{"commands": [{"exec": ["true"]}], "depends_on": [{{{{first}}}}]}""");
        using (var form = await Cluster.PostFormAsync("/scheduler/jobs/new", ("command", "true"), ("depends_on", $"afterany:{second}")))
            Assert.Equal(HttpStatusCode.Accepted, form.StatusCode);

        await Cluster.WaitForAsync(first, s => s.State == JobState.Running);
        var entry = await Cluster.QueueEntryAsync(second);
        Assert.True(entry.Queued);
        Assert.Equal([first], entry.WaitingOn);
        Assert.Contains($"waiting on jobs {first}", entry.Reason, StringComparison.Ordinal);
        Assert.Equal(1, (await Cluster.JobAsync(second)).WaitingOn);

        await File.WriteAllTextAsync(gate, "");
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(second)).Status);
        Assert.True((await Cluster.StatusAsync(second)).StartedAt >= (await Cluster.StatusAsync(first)).FinishedAt);
    }

    [Fact]
    public async Task A_long_afterok_chain_runs_in_order()
    {
        var jobs = new Dictionary<string, object>();
        for (var i = 0; i < 50; i++)
            jobs[$"j{i}"] = i == 0 ? Job("true") : Job("true", $"j{i - 1}");
        var answer = await SubmitDagAsync(Cluster, new { jobs });
        var dag = await WaitDagStoppedAsync(Cluster, answer.Jobs["j49"]);
        Assert.Equal(JobStatus.Good, dag.Status);
        var views = dag.Jobs.ToDictionary(j => j.JobId);
        for (var i = 1; i < 50; i++)
            Assert.True(views[answer.Jobs[$"j{i}"]].StartedAt >= views[answer.Jobs[$"j{i - 1}"]].FinishedAt, $"j{i} started before j{i - 1} ended");
    }

    [Fact]
    public async Task A_fan_out_of_200_and_a_fan_in_after_them()
    {
        var jobs = new Dictionary<string, object> { ["start"] = Job("true") };
        for (var i = 0; i < 200; i++)
            jobs[$"fan{i}"] = Job("true", "start");
        jobs["in"] = Job("true", [.. Enumerable.Range(0, 200).Select(i => (object)$"fan{i}")]);
        var answer = await SubmitDagAsync(Cluster, new { jobs });
        var dag = await WaitDagStoppedAsync(Cluster, answer.Jobs["in"]);
        Assert.Equal((JobStatus.Good, 202, 400), (dag.Status, dag.Jobs.Count, dag.Edges.Count));
        var views = dag.Jobs.ToDictionary(j => j.JobId);
        var lastFan = Enumerable.Range(0, 200).Max(i => views[answer.Jobs[$"fan{i}"]].FinishedAt);
        Assert.True(views[answer.Jobs["in"]].StartedAt >= lastFan);
    }

    [Fact]
    public async Task A_failing_middle_job_fails_its_afterok_branch_runs_its_afternotok_branch_and_retry_rescues_it()
    {
        var marker = Path.Combine(Cluster.Directory, "second-time");
        var answer = await SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["first"] = Job("true"),
                ["middle"] = Job($"test -f {marker} || {{ touch {marker}; exit 3; }}", "first"),
                ["next"] = Job("true", "middle"),
                ["after-next"] = Job("true", "next"),
                ["alert"] = Job("true", new { job = "middle", condition = "afternotok" }),
                ["cleanup-if-first-fails"] = Job("true", new { job = "first", condition = "afternotok" }),
                ["after-cleanup"] = Job("true", "cleanup-if-first-fails"),
                ["always"] = Job("true", new { job = "after-next", condition = "afterany" }),
            },
        });
        var dag = await WaitDagStoppedAsync(Cluster, answer.Jobs["first"]);
        var views = dag.Jobs.ToDictionary(j => j.JobId);
        (JobStatus, StopReason?) Of(string name) => (views[answer.Jobs[name]].Status, views[answer.Jobs[name]].Reason);
        Assert.Equal((JobStatus.Good, null), Of("first"));
        Assert.Equal((JobStatus.Error, StopReason.ExitCode), Of("middle"));
        Assert.Equal((JobStatus.Error, StopReason.DependencyFailed), Of("next"));
        Assert.Equal((JobStatus.Error, StopReason.DependencyFailed), Of("after-next"));
        Assert.Equal((JobStatus.Good, null), Of("alert"));
        Assert.Equal((JobStatus.Error, StopReason.Skipped), Of("cleanup-if-first-fails"));
        Assert.Equal((JobStatus.Error, StopReason.Skipped), Of("after-cleanup"));
        Assert.Equal((JobStatus.Good, null), Of("always"));
        Assert.Equal(JobStatus.Error, dag.Status);

        // A job that stopped only because of a dependency cannot be retried on its own.
        using (var blocked = await Cluster.Client.PostAsync($"/scheduler/jobs/{answer.Jobs["next"]}/retry", null))
            Assert.Equal(HttpStatusCode.Conflict, blocked.StatusCode);
        using var retry = await Cluster.Client.PostAsync($"/scheduler/jobs/{answer.Jobs["middle"]}/retry", null);
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        var requeued = (await retry.Content.ReadFromJsonAsync<RetryAnswer>(DroverJson.Options))!.Requeued;
        Assert.Equal([answer.Jobs["middle"], answer.Jobs["next"], answer.Jobs["after-next"]], requeued.Order());

        dag = await WaitDagStoppedAsync(Cluster, answer.Jobs["first"]);
        views = dag.Jobs.ToDictionary(j => j.JobId);
        Assert.Equal((JobStatus.Good, null), Of("middle"));
        Assert.Equal((JobStatus.Good, null), Of("after-next"));
        Assert.Equal(2, (await Cluster.JobAsync(answer.Jobs["middle"])).Attempts.Count);
        // The alert ran while the middle job had failed; skipped jobs count as good: the DAG is good now.
        Assert.Equal(JobStatus.Good, dag.Status);
    }

    [Fact]
    public async Task Kill_with_descendants_stops_children_and_dependents()
    {
        var answer = await SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["top"] = Job("sleep 30"),
                ["below"] = Job("true", "top"),
                ["further"] = Job("true", "below"),
            },
        });
        var top = answer.Jobs["top"];
        await Cluster.WaitForAsync(top, s => s.State == JobState.Running);
        var other = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell("sleep 30")], Parent = top, MaxAttempts = 1 });
        await Cluster.WaitForAsync(other, s => s.State == JobState.Running);
        Assert.Equal([other], (await Cluster.JobAsync(top)).Children);

        using var kill = await Cluster.Client.PostAsync($"/scheduler/jobs/{top}/kill?descendants=true", null);
        Assert.True(kill.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted);
        foreach (var id in new[] { top, other, answer.Jobs["below"], answer.Jobs["further"] })
            Assert.Equal((JobStatus.Error, StopReason.Killed), ((await Cluster.WaitStoppedAsync(id)).Status, (await Cluster.StatusAsync(id)).Reason));
    }

    [Fact]
    public async Task Walking_a_dag_while_it_runs_gives_a_consistent_graph_at_every_step()
    {
        var jobs = new Dictionary<string, object> { ["root"] = Job("sleep 0.1") };
        for (var i = 0; i < 6; i++)
        {
            jobs[$"a{i}"] = Job("sleep 0.1", "root");
            jobs[$"b{i}"] = Job("sleep 0.1", $"a{i}", new { job = $"a{(i + 1) % 6}", condition = "afterany" });
        }
        jobs["end"] = Job("true", [.. Enumerable.Range(0, 6).Select(i => (object)$"b{i}")]);
        var answer = await SubmitDagAsync(Cluster, new { jobs });
        var walks = 0;
        while (true)
        {
            var dag = await DagAsync(Cluster, answer.Jobs["end"]);
            walks++;
            Assert.Equal(jobs.Count, dag.Jobs.Count);
            var views = dag.Jobs.ToDictionary(j => j.JobId);
            foreach (var edge in dag.Edges)
            {
                Assert.True(views.ContainsKey(edge.From) && views.ContainsKey(edge.To), $"edge {edge} leaves the DAG");
                var down = views[edge.To];
                var up = views[edge.From];
                // A job that left the queue did so only once each dependency had stopped and met its condition.
                if (down.State != JobState.Queued && down.Reason is not (StopReason.DependencyFailed or StopReason.Skipped))
                {
                    Assert.Equal(JobState.Stopped, up.State);
                    if (edge.Kind == "afterok")
                        Assert.Equal(JobStatus.Good, up.Status);
                }
            }
            Assert.Equal(dag.Jobs.Any(j => j.State != JobState.Stopped) ? JobState.Running : JobState.Stopped, dag.State);
            if (dag.State == JobState.Stopped)
            {
                Assert.Equal(JobStatus.Good, dag.Status);
                break;
            }
        }
        Assert.True(walks > 1);
    }
}

/// <summary>Refused input leaves nothing behind.</summary>
public class DagBadInputTests() : ClusterTest(0)
{
    private async Task AssertRefusedAsync(string path, string json, HttpStatusCode expected, string field)
    {
        using var response = await Cluster.PostJsonAsync(path, json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains($"\"{field}", body, StringComparison.Ordinal);
    }

    private async Task<int> CountJobsAsync() =>
        (await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs", DroverJson.Options))!.Jobs.Count;

    [Fact]
    public async Task Cycles_unknown_jobs_duplicates_and_too_many_edges_are_refused_and_nothing_is_stored()
    {
        const string Cmd = """{"commands": [{"exec": ["true"]}]""";
        await AssertRefusedAsync("/scheduler/dags/new",
            $$$$"""{"jobs": {"a": {{{{Cmd}}}}, "depends_on": ["c"]}, "b": {{{{Cmd}}}}, "depends_on": ["a"]}, "c": {{{{Cmd}}}}, "depends_on": ["b"]}, "ok": {{{{Cmd}}}}}}}""",
            HttpStatusCode.BadRequest, "jobs");
        await AssertRefusedAsync("/scheduler/dags/new", $$$$"""{"jobs": {"a": {{{{Cmd}}}}, "depends_on": ["a"]}}}""", HttpStatusCode.BadRequest, "jobs");
        await AssertRefusedAsync("/scheduler/dags/new", $$$$"""{"jobs": {"a": {{{{Cmd}}}}, "depends_on": ["nobody"]}}}""", HttpStatusCode.BadRequest, "jobs.a.depends_on[0]");
        await AssertRefusedAsync("/scheduler/dags/new", $$$$"""{"jobs": {"a": {{{{Cmd}}}}, "depends_on": [987654]}}}""", HttpStatusCode.BadRequest, "jobs.a.depends_on[0]");
        await AssertRefusedAsync("/scheduler/dags/new", $$$$"""{"jobs": {"a": {{{{Cmd}}}}}, "a": {{{{Cmd}}}}}}}""", HttpStatusCode.BadRequest, "jobs.a");
        await AssertRefusedAsync("/scheduler/dags/new", $$$$"""{"jobs": {"a": {{{{Cmd}}}}}, "b": {"commands": []}}}""", HttpStatusCode.BadRequest, "jobs.b.commands");
        await AssertRefusedAsync("/scheduler/dags/new",
            $$$$"""{"jobs": {"a": {{{{Cmd}}}}, "depends_on": [{"job": "b", "condition": "sometimes"}]}, "b": {{{{Cmd}}}}}}}""",
            HttpStatusCode.BadRequest, "jobs.a");
        await AssertRefusedAsync("/scheduler/jobs/new", $$$$"""{{{{Cmd}}}}, "depends_on": [987654]}""", HttpStatusCode.BadRequest, "depends_on[0]");
        await AssertRefusedAsync("/scheduler/jobs/new", $$$$"""{{{{Cmd}}}}, "parent": 987654}""", HttpStatusCode.BadRequest, "parent");

        // 100,000 edges: 1,000 jobs, each after the 100 before it (or all there are).
        var jobs = new StringBuilder("{\"jobs\": {");
        for (var i = 0; i < 1000; i++)
        {
            jobs.Append(i == 0 ? "" : ",").Append($"\"j{i}\": {Cmd}, \"depends_on\": [");
            jobs.AppendJoin(',', Enumerable.Range(0, 100).Select(k => $"\"j{(i + 1 + k) % 1000}\"")).Append("]}");
        }
        jobs.Append("}}");
        await AssertRefusedAsync("/scheduler/dags/new", jobs.ToString(), HttpStatusCode.RequestEntityTooLarge, "jobs");

        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public async Task A_dag_request_is_all_or_nothing_and_idempotent_on_its_request_id()
    {
        const string Cmd = """{"commands": [{"exec": ["true"]}]""";
        // The last job is invalid: none of the valid ones before it is stored.
        await AssertRefusedAsync("/scheduler/dags/new",
            $$$$"""{"jobs": {"a": {{{{Cmd}}}}}, "b": {{{{Cmd}}}}, "depends_on": ["a"]}, "c": {"commands": [{"exec": ["true"]}], "timeout_seconds": -1}}}""",
            HttpStatusCode.BadRequest, "jobs.c.timeout_seconds");
        Assert.Equal(0, await CountJobsAsync());

        var json = $$$$"""{"request_id": "nightly-1", "jobs": {"a": {{{{Cmd}}}}}, "b": {{{{Cmd}}}}, "depends_on": ["a"]}}}""";
        using var first = await Cluster.PostJsonAsync("/scheduler/dags/new", json);
        using var second = await Cluster.PostJsonAsync("/scheduler/dags/new", json);
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);
        var one = (await first.Content.ReadFromJsonAsync<DagAnswer>(DroverJson.Options))!;
        var two = (await second.Content.ReadFromJsonAsync<DagAnswer>(DroverJson.Options))!;
        Assert.Equal(one.Jobs, two.Jobs);
        Assert.Equal(2, await CountJobsAsync());
        Assert.Equal("nightly-1.b", (await Cluster.JobAsync(one.Jobs["b"])).RequestId);
    }
}

/// <summary>A store written before DAGs existed opens, is migrated at start-up, and its jobs take part in DAGs.</summary>
public sealed class DagMigrationTests
{
    [Fact]
    public async Task A_version_1_database_is_migrated_at_start_up()
    {
        var directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"))).FullName;
        var database = Path.Combine(directory, "old.db");
        await using (var stream = typeof(SchedulerApp).Assembly.GetManifestResourceStream("sqlite/001_initial.sql")!)
        using (var reader = new StreamReader(stream))
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={database}"))
        {
            await connection.OpenAsync();
            using var command = connection.CreateCommand();
            command.CommandText = await reader.ReadToEndAsync() + """
                ;
                INSERT INTO jobs (request_id, spec, state, status, max_attempts, created_at, updated_at, finished_at)
                VALUES ('old-1', '{"commands": [{"exec": ["true"]}]}', 'stopped', 'good', 1, 1700000000000, 1700000000000, 1700000000000);
                PRAGMA user_version = 1;
                """;
            await command.ExecuteNonQueryAsync();
        }
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();

        var app = SchedulerApp.Create(["--urls", "http://127.0.0.1:0", $"--Scheduler:Database={database}", $"--Scheduler:DataDirectory={Path.Combine(directory, "uploads")}"]);
        await app.StartAsync();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri(app.Urls.First()) };
            var old = (await client.GetFromJsonAsync<JobRecord>("/scheduler/jobs/1", DroverJson.Options))!;
            Assert.Equal(("old-1", JobStatus.Good, 1L), (old.RequestId, old.Status, old.Root));
            using var response = await client.PostAsync("/scheduler/jobs/new",
                new StringContent("""{"commands": [{"exec": ["true"]}], "depends_on": [{"job": 1, "condition": "afternotok"}]}""", Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            var id = (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;
            // Job 1 ended good, so the afternotok job is skipped at once. Waiting on a job already stored makes an edge,
            // not a member of that job's DAG (issue 12): the new job is a DAG of its own, good, with its edge to job 1.
            var dag = (await client.GetFromJsonAsync<DagView>($"/scheduler/jobs/{id}/dag", DroverJson.Options))!;
            Assert.Equal((id, 1, JobState.Stopped, JobStatus.Good), (dag.Root, dag.Jobs.Count, dag.State, dag.Status));
            Assert.Contains(dag.Edges, e => e.From == 1 && e.To == id);
            Assert.Equal(StopReason.Skipped, dag.Jobs.Single(j => j.JobId == id).Reason);
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            Directory.Delete(directory, recursive: true);
        }
    }
}

/// <summary>A DAG of 10,000 jobs: stored in one request, walked in one read, failed along its whole length in one transaction.</summary>
public class DagScaleTests() : ClusterTest(0)
{
    [Fact]
    public async Task A_dag_on_a_job_that_already_failed_stops_its_afterok_jobs_as_it_is_stored_and_queues_its_afternotok_job()
    {
        // No node exists: a queued job removed from the queue has stopped in error before the DAG is sent.
        var failed = await Cluster.SubmitAsync(DagTests.Job("true"));
        using (var remove = await Cluster.Client.DeleteAsync($"/scheduler/queue/{failed}"))
            Assert.Equal(HttpStatusCode.OK, remove.StatusCode);
        var upstream = await Cluster.StatusAsync(failed);
        Assert.Equal((JobState.Stopped, JobStatus.Error), (upstream.State, upstream.Status));

        var answer = await DagTests.SubmitDagAsync(Cluster, new
        {
            jobs = new Dictionary<string, object>
            {
                ["on-failed"] = DagTests.Job("true", failed),
                ["after-that"] = DagTests.Job("true", "on-failed"),
                ["cleanup"] = DagTests.Job("true", new { job = failed, condition = "afternotok" }),
            },
        });
        // Decided in the request's own transaction: the first from the stored job, the second from the first, met
        // in the same request.
        var onFailed = await Cluster.StatusAsync(answer.Jobs["on-failed"]);
        Assert.Equal((JobState.Stopped, JobStatus.Error, StopReason.DependencyFailed), (onFailed.State, onFailed.Status, onFailed.Reason));
        Assert.Contains(failed.ToString(System.Globalization.CultureInfo.InvariantCulture), onFailed.Message, StringComparison.Ordinal);
        var afterThat = await Cluster.StatusAsync(answer.Jobs["after-that"]);
        Assert.Equal((JobState.Stopped, StopReason.DependencyFailed), (afterThat.State, afterThat.Reason));
        Assert.Contains(answer.Jobs["on-failed"].ToString(System.Globalization.CultureInfo.InvariantCulture), afterThat.Message, StringComparison.Ordinal);
        Assert.Equal(JobState.Queued, (await Cluster.StatusAsync(answer.Jobs["cleanup"])).State);
        Assert.Empty((await Cluster.QueueEntryAsync(answer.Jobs["cleanup"])).WaitingOn);

        var dag = await DagTests.DagAsync(Cluster, answer.Jobs["after-that"]);
        Assert.Equal((answer.Jobs["on-failed"], 3), (dag.Root, dag.Jobs.Count));
    }

    [Fact]
    public async Task A_chain_of_10000_jobs_is_walked_and_a_failure_spreads_down_all_of_it()
    {
        const int Length = 10_000;
        var json = new StringBuilder("{\"jobs\": {");
        for (var i = 0; i < Length; i++)
            json.Append(i == 0 ? "" : ",").Append($"\"j{i}\": {{\"commands\": [{{\"exec\": [\"true\"]}}]")
                .Append(i == 0 ? "}" : $", \"depends_on\": [\"j{i - 1}\"]}}");
        json.Append("}}");
        using var response = await Cluster.PostJsonAsync("/scheduler/dags/new", json.ToString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var answer = (await response.Content.ReadFromJsonAsync<DagAnswer>(DroverJson.Options))!;
        Assert.Equal([answer.Jobs["j0"]], (await Cluster.QueueEntryAsync(answer.Jobs["j1"])).WaitingOn);

        var dag = await DagTests.DagAsync(Cluster, answer.Jobs["j5000"]);
        Assert.Equal((answer.Jobs["j0"], Length, Length - 1, JobState.Running), (dag.Root, dag.Jobs.Count, dag.Edges.Count, dag.State));

        // No node exists: j0 waits in the queue. Removing it fails every job after it, in one transaction.
        using var remove = await Cluster.Client.DeleteAsync($"/scheduler/queue/{answer.Jobs["j0"]}");
        Assert.Equal(HttpStatusCode.OK, remove.StatusCode);
        var last = await Cluster.StatusAsync(answer.Jobs[$"j{Length - 1}"]);
        Assert.Equal((JobState.Stopped, StopReason.DependencyFailed), (last.State, last.Reason));
        dag = await DagTests.DagAsync(Cluster, answer.Jobs["j0"]);
        Assert.Equal((JobState.Stopped, JobStatus.Error), (dag.State, dag.Status));
        Assert.Equal(Length - 1, dag.Jobs.Count(j => j.Reason == StopReason.DependencyFailed));
    }
}
