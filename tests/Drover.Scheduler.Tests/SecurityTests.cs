using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;

namespace Drover.Scheduler.Tests;

/// <summary>Failure 3 of issue 12: a job token lives as long as its attempt runs, and speaks for its own DAG only.</summary>
public sealed class JobTokenLifetimeTests()
    : ClusterTest(0, $"--Scheduler:Token={Token}", $"--Scheduler:JobTokenKey={Key}", "--Scheduler:JobTokenGrace=00:00:00")
{
    private const string Token = "scheduler-secret";
    private const string Key = "job-key";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Cluster.UseToken(Token);
        await Cluster.AddNodeAsync("n1", 4, $"--Processor:SchedulerToken={Token}");
    }

    [Fact]
    public async Task A_stopped_jobs_token_read_from_its_log_is_a_401()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("printenv", "DROVER_TOKEN")], MaxAttempts = 1 });
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
        var token = (await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log")).Trim();
        Assert.StartsWith("drj.", token, StringComparison.Ordinal);

        using var leaked = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        leaked.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var submit = await leaked.PostAsync("/scheduler/jobs/new", Json("""{"commands": [["echo", "after"]]}"""));
        await AssertProblemAsync(submit, HttpStatusCode.Unauthorized, "no longer placed or running");
        Assert.Equal("Bearer", submit.Headers.WwwAuthenticate.ToString());
        using var read = await leaked.GetAsync($"/scheduler/jobs/{id}/status");
        Assert.Equal(HttpStatusCode.Unauthorized, read.StatusCode);
    }

    [Fact]
    public async Task A_running_jobs_token_may_depend_only_on_jobs_of_its_own_DAG()
    {
        var other = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sleep", "30")], MaxAttempts = 1 });
        await Cluster.WaitForAsync(parent, s => s.State == JobState.Running);
        using var job = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        job.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JobTokens.Issue(parent, 1, parent, Key));

        using var outside = await job.PostAsync("/scheduler/jobs/new", Json($$"""{"commands": [["true"]], "depends_on": [{{other}}]}"""));
        var problem = await AssertProblemAsync(outside, HttpStatusCode.Forbidden, "its own DAG");
        Assert.True(problem.GetProperty("errors").TryGetProperty("depends_on[0]", out _));
        using var dag = await job.PostAsync("/scheduler/dags/new", Json("""{"jobs": {"a": {"commands": [["true"]], "depends_on": [""" + other + "]}}}"));
        await AssertProblemAsync(dag, HttpStatusCode.Forbidden, "its own DAG");

        using var inside = await job.PostAsync("/scheduler/jobs/new", Json($$"""{"commands": [["true"]], "depends_on": [{{parent}}]}"""));
        Assert.Equal(HttpStatusCode.Accepted, inside.StatusCode);
        // A token for an attempt the job never had is worth nothing either.
        using var forged = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        forged.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JobTokens.Issue(parent, 2, parent, Key));
        using var refused = await forged.GetAsync("/scheduler/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var kill = await Cluster.Client.PostAsync($"/scheduler/jobs/{parent}/kill", null);
    }

    internal static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    internal static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string detail)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Contains(detail, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        return problem;
    }
}

/// <summary>The grace after an attempt stops is configurable: a job's last calls as it exits still count.</summary>
public sealed class JobTokenGraceTests()
    : ClusterTest(1, "--Scheduler:JobTokenKey=job-key", "--Scheduler:JobTokenGrace=00:10:00")
{
    [Fact]
    public async Task A_stopped_jobs_token_works_within_the_grace()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("printenv", "DROVER_TOKEN")], MaxAttempts = 1 });
        await Cluster.WaitStoppedAsync(id);
        var token = (await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log")).Trim();
        using var job = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        job.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var submit = await job.PostAsync("/scheduler/jobs/new", JobTokenLifetimeTests.Json("""{"commands": [["true"]]}"""));
        Assert.Equal(HttpStatusCode.Accepted, submit.StatusCode);
        var child = JsonSerializer.Deserialize<SubmitAnswer>(await submit.Content.ReadAsStringAsync(), DroverJson.Options)!.JobId;
        Assert.Equal(id, (await Cluster.StatusAsync(child)).Parent);
    }
}

/// <summary>Failure 4 of issue 12: a node proves who it is, cannot be moved while up, and speaks for itself only.</summary>
public sealed class NodeIdentityTests()
    : ClusterTest(0, $"--Scheduler:Token={Token}", "--Scheduler:NodeCredentials:n1=credential-1", "--Scheduler:NodeCredentials:n2=credential-2")
{
    private const string Token = "scheduler-secret";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Cluster.UseToken(Token);
    }

    private HttpClient As(string credential)
    {
        var client = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", credential);
        return client;
    }

    [Fact]
    public async Task A_heartbeat_cannot_move_a_live_node_but_a_lost_one_may_come_back_elsewhere()
    {
        // The Processor registers with its own credential, not the scheduler's token.
        var n1 = await Cluster.AddNodeAsync("n1", 2, "--Processor:SchedulerToken=credential-1");
        var address = (await Cluster.NodesAsync()).Single().Uri;

        using var moved = await Cluster.Client.PostAsJsonAsync(NodeRoutes.Heartbeat, new NodeInfo { Name = "n1", Uri = "http://127.0.0.1:9" }, DroverJson.Options);
        await JobTokenLifetimeTests.AssertProblemAsync(moved, HttpStatusCode.Conflict, "is up at another address");
        Assert.Equal(address, (await Cluster.NodesAsync()).Single().Uri);

        using var other = As("credential-2");
        using var impostor = await other.PostAsJsonAsync(NodeRoutes.Heartbeat, new NodeInfo { Name = "n1", Uri = "http://127.0.0.1:9" }, DroverJson.Options);
        await JobTokenLifetimeTests.AssertProblemAsync(impostor, HttpStatusCode.Forbidden, "node 'n2'");
        using var own = As("credential-1");
        using var list = await own.GetAsync("/scheduler/jobs");
        await JobTokenLifetimeTests.AssertProblemAsync(list, HttpStatusCode.Forbidden, "may only send that node's heartbeat");
        using var pushAsOther = await own.PostAsJsonAsync("/scheduler/nodes/n2/jobs", new NodeJobList(), DroverJson.Options);
        Assert.Equal(HttpStatusCode.Forbidden, pushAsOther.StatusCode);

        await n1.StopAsync();
        await Cluster.Eventually(async () => (await Cluster.NodesAsync()).Single().Health == NodeHealth.Down, 30, "n1 to be down");
        var elsewhere = $"http://127.0.0.1:{Cluster.FreePort()}";
        using var back = await own.PostAsJsonAsync(NodeRoutes.Heartbeat, new NodeInfo { Name = "n1", Uri = elsewhere }, DroverJson.Options);
        Assert.Equal(HttpStatusCode.OK, back.StatusCode);
        Assert.Equal(elsewhere, (await Cluster.NodesAsync()).Single().Uri);
    }

    [Fact]
    public async Task A_push_for_an_attempt_placed_on_another_node_is_a_403_and_changes_nothing()
    {
        await Cluster.AddNodeAsync("n1", 2, "--Processor:SchedulerToken=credential-1");
        await Cluster.AddNodeAsync("n2", 2, "--Processor:SchedulerToken=credential-2");
        var id = await Cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromArgv("sleep", "30")], MaxAttempts = 1, Constraints = new JobConstraints { Node = "n1" },
        });
        await Cluster.WaitForAsync(id, s => s.State == JobState.Running);
        var requestId = Assert.Single((await Cluster.JobAsync(id)).Attempts).BackendRef;

        using var n2 = As("credential-2");
        var forged = new NodeJobList
        {
            Jobs = [new NodeJobStatus { RequestId = requestId, State = JobState.Stopped, Status = JobStatus.Good, ExitCode = 0, FinishedAt = DateTimeOffset.UtcNow }],
        };
        using var push = await n2.PostAsJsonAsync("/scheduler/nodes/n2/jobs", forged, DroverJson.Options);
        await JobTokenLifetimeTests.AssertProblemAsync(push, HttpStatusCode.Forbidden, "placed on another node");
        using var asAdmin = await Cluster.Client.PostAsJsonAsync("/scheduler/nodes/n2/jobs", forged, DroverJson.Options);
        Assert.Equal(HttpStatusCode.Forbidden, asAdmin.StatusCode);
        Assert.Equal(JobState.Running, (await Cluster.StatusAsync(id)).State);
        using var kill = await Cluster.Client.PostAsync($"/scheduler/jobs/{id}/kill", null);
    }
}

/// <summary>A configured node is the configuration's: no heartbeat changes it.</summary>
public sealed class ConfiguredNodeHeartbeatTests : IAsyncLifetime
{
    private FakeNode _node = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _node = await FakeNode.StartAsync("static1", 4);
        _cluster = await Cluster.StartAsync(0, "--Scheduler:Nodes:0:Name=static1", $"--Scheduler:Nodes:0:Uri={_node.Address}");
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _node.DisposeAsync();
    }

    [Fact]
    public async Task A_heartbeat_naming_a_configured_node_is_a_409()
    {
        await Cluster.Eventually(async () => (await _cluster.NodesAsync()).Single().Slots == 4, 30, "the node's info");
        using var response = await _cluster.Client.PostAsJsonAsync(NodeRoutes.Heartbeat,
            new NodeInfo { Name = "static1", Uri = "http://127.0.0.1:9", Slots = 100 }, DroverJson.Options);
        await JobTokenLifetimeTests.AssertProblemAsync(response, HttpStatusCode.Conflict, "is configured");
        var node = (await _cluster.NodesAsync()).Single();
        Assert.Equal((_node.Address.ToString().TrimEnd('/'), 4), (node.Uri, node.Slots));
    }
}

/// <summary>Registrations of nodes unseen for Scheduler:NodeExpiry, running nothing, are removed.</summary>
public class NodeExpiryTests() : ClusterTest(0, "--Scheduler:NodeExpiry=00:00:01")
{
    [Fact]
    public async Task A_node_unseen_past_the_expiry_is_forgotten()
    {
        using var heartbeat = await Cluster.Client.PostAsJsonAsync(NodeRoutes.Heartbeat,
            new NodeInfo { Name = "ghost", Uri = $"http://127.0.0.1:{Cluster.FreePort()}" }, DroverJson.Options);
        Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        Assert.Equal("ghost", (await Cluster.NodesAsync()).Single().Name);
        await Cluster.Eventually(async () => (await Cluster.NodesAsync()).Count == 0, 30, "ghost to be forgotten");
        using var gone = await Cluster.Client.GetAsync("/scheduler/nodes/ghost");
        Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
    }
}

/// <summary>Failure 5 of issue 12: a wiped store never hands a node a request id it has seen, so no old result comes back.</summary>
public sealed class StoreIdentityTests : IAsyncLifetime
{
    private string _directory = null!;
    private ProcessorNode _node = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"))).FullName;
        _node = await Cluster.StartProcessorAsync(_directory, "keeper", 2);
        _cluster = await Cluster.StartAsync(0, "--Scheduler:Nodes:0:Name=keeper", $"--Scheduler:Nodes:0:Uri={_node.Address}");
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _node.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task After_the_database_is_deleted_a_new_job_runs_anew_on_a_node_that_kept_the_old_one()
    {
        var old = await _cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("echo", "old")] });
        Assert.Equal(JobStatus.Good, (await _cluster.WaitStoppedAsync(old)).Status);

        await _cluster.StopSchedulerAsync();
        // A restart in one test process: pooled connections would still hold the deleted file open.
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var file in Directory.GetFiles(_cluster.Directory, "scheduler.db*"))
            File.Delete(file);
        await _cluster.RestartSchedulerAsync();

        var again = await _cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("echo", "new")] });
        Assert.Equal(old, again); // the same job id as before the wipe: what made the old run answer for it
        Assert.Equal(JobStatus.Good, (await _cluster.WaitStoppedAsync(again)).Status);
        Assert.Equal("new\n", await _cluster.Client.GetStringAsync($"/scheduler/jobs/{again}/log"));
    }
}

/// <summary>A node that answers the poll with what is no JSON of the node protocol fails that call, as an unreachable one does.</summary>
public sealed class HostileNodeTests : IAsyncLifetime
{
    private FakeNode _node = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _node = await FakeNode.StartAsync("fake", 2000);
        _cluster = await Cluster.StartAsync(0, "--Scheduler:Nodes:0:Name=fake", $"--Scheduler:Nodes:0:Uri={_node.Address}");
        await Cluster.Eventually(async () => (await _cluster.NodesAsync("/scheduler/nodes/available")).Count == 1, 30, "the fake node's info");
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _node.DisposeAsync();
    }

    [Theory]
    [InlineData(FakeStatusAnswer.NotJson)]
    [InlineData(FakeStatusAnswer.InvalidUtf8)]
    public async Task A_malformed_poll_answer_marks_the_node_failed_and_the_next_good_one_is_used(FakeStatusAnswer answer)
    {
        _node.StatusAnswer = answer;
        var id = await _cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        await _cluster.WaitForAsync(id, s => s.State == JobState.Running);
        await Cluster.Eventually(async () => (await _cluster.NodesAsync()).Single().LastError?.Contains("not valid JSON", StringComparison.Ordinal) == true,
            30, "the node's last error to name the malformed answer");

        _node.StatusAnswer = FakeStatusAnswer.StoppedGood;
        Assert.Equal(JobStatus.Good, (await _cluster.WaitStoppedAsync(id)).Status);
        Assert.Null((await _cluster.NodesAsync()).Single().LastError);
    }

    [Fact]
    public async Task A_thousand_active_attempts_on_one_node_are_all_polled()
    {
        var jobs = Enumerable.Range(0, 1000).ToDictionary(i => $"j{i}", _ => new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        using var dag = await _cluster.PostJsonAsync("/scheduler/dags/new", JsonSerializer.Serialize(new DagRequest { Jobs = jobs }, DroverJson.Options));
        Assert.Equal(HttpStatusCode.Accepted, dag.StatusCode);
        await Cluster.Eventually(async () =>
        {
            var page = await _cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?state=stopped&status=good&limit=1000", DroverJson.Options);
            return page!.Jobs.Count == 1000;
        }, 120, "1,000 jobs to be polled to their end");
        Assert.Equal(1000, _node.Started.Count);
        Assert.All(_node.PollUrlLengths, length => Assert.True(length < 8192, $"a poll URL of {length} characters"));
    }
}

/// <summary>An upload that vanished before its job was placed fails that job alone; the placement batch goes on.</summary>
public class MissingUploadTests() : ClusterTest(0)
{
    [Fact]
    public async Task A_job_whose_upload_is_gone_stops_with_placement_failed_and_the_others_run()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("cat data.txt"), "command" },
            { new StringContent("1"), "max_attempts" },
            { new ByteArrayContent("a\nb\n"u8.ToArray()), "file", "data.txt" },
        };
        using var response = await Cluster.Client.PostAsync("/scheduler/jobs/new", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var withUpload = JsonSerializer.Deserialize<SubmitAnswer>(await response.Content.ReadAsStringAsync(), DroverJson.Options)!.JobId;
        var plain = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("echo", "plain")] });
        foreach (var file in Directory.GetFiles(Path.Combine(Cluster.Directory, "uploads"), "*", SearchOption.AllDirectories))
            File.Delete(file);

        await Cluster.AddNodeAsync("n1");
        var failed = await Cluster.WaitStoppedAsync(withUpload);
        Assert.Equal((JobStatus.Error, StopReason.PlacementFailed), (failed.Status, failed.Reason));
        Assert.Contains("data.txt", failed.Message, StringComparison.Ordinal);
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(plain)).Status);
    }
}

/// <summary>One caller holds at most Scheduler:MaxStreamsPerCaller event streams and followed logs open at once.</summary>
public class StreamLimitTests() : ClusterTest(0, "--Scheduler:MaxStreamsPerCaller=2")
{
    [Fact]
    public async Task A_stream_beyond_the_cap_is_a_429_until_one_closes()
    {
        var queued = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        using var events = await Cluster.Client.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, events.StatusCode);
        // A followed log of a job no node has taken waits, and holds its place meanwhile.
        var follow = Cluster.Client.GetAsync($"/scheduler/jobs/{queued}/log?follow=true", HttpCompletionOption.ResponseHeadersRead);
        // The follow has no answer to wait for until a node takes the job: give it time to take its place before
        // the probes below, each of which holds a place itself for a moment.
        await Task.Delay(TimeSpan.FromSeconds(2));
        await Cluster.Eventually(async () =>
        {
            using var third = await Cluster.Client.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
            return third.StatusCode == HttpStatusCode.TooManyRequests
                && third.Content.Headers.ContentType?.MediaType == "application/problem+json" && third.Headers.RetryAfter is not null;
        }, 30, "a third stream to be refused");
        using var plain = await Cluster.Client.GetAsync($"/scheduler/jobs/{queued}/log");
        Assert.Equal(HttpStatusCode.OK, plain.StatusCode); // a log read without follow is no stream

        events.Dispose();
        await Cluster.Eventually(async () =>
        {
            using var again = await Cluster.Client.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
            return again.StatusCode == HttpStatusCode.OK;
        }, 30, "a stream to be allowed once one closed");
        await Cluster.AddNodeAsync("n1");
        using var followed = await follow;
        Assert.Equal(HttpStatusCode.OK, followed.StatusCode);
    }
}

/// <summary>A job that waits on another user's DAG does not become part of it, so it cannot change what that DAG reports.</summary>
public class ForeignDependencyTests() : ClusterTest(1)
{
    [Fact]
    public async Task A_failing_job_that_depends_on_another_DAG_leaves_that_DAGs_state_alone()
    {
        using var dag = await Cluster.PostJsonAsync("/scheduler/dags/new", """{"jobs": {"a": {"commands": [["true"]]}, "b": {"commands": [["true"]], "depends_on": ["a"]}}}""");
        var theirs = JsonSerializer.Deserialize<DagAnswer>(await dag.Content.ReadAsStringAsync(), DroverJson.Options)!;
        await Cluster.WaitStoppedAsync(theirs.Jobs["b"]);

        var mine = await Cluster.SubmitAsync($$"""{"commands": [["false"]], "max_attempts": 1, "depends_on": [{{theirs.Jobs["a"]}}]}""");
        Assert.Equal(JobStatus.Error, (await Cluster.WaitStoppedAsync(mine)).Status);
        using var next = await Cluster.PostJsonAsync("/scheduler/dags/new",
            """{"jobs": {"c": {"commands": [["false"]], "max_attempts": 1, "depends_on": [""" + theirs.Jobs["b"] + "]}}}");
        var nextAnswer = JsonSerializer.Deserialize<DagAnswer>(await next.Content.ReadAsStringAsync(), DroverJson.Options)!;
        await Cluster.WaitStoppedAsync(nextAnswer.Jobs["c"]);

        var view = (await Cluster.Client.GetFromJsonAsync<DagView>($"/scheduler/jobs/{theirs.Root}/dag", DroverJson.Options))!;
        Assert.Equal((2, JobState.Stopped, JobStatus.Good), (view.Jobs.Count, view.State, view.Status));
        Assert.Equal(mine, (await Cluster.JobAsync(mine)).Root);
        var own = (await Cluster.Client.GetFromJsonAsync<DagView>($"/scheduler/jobs/{mine}/dag", DroverJson.Options))!;
        Assert.Equal((mine, 1, JobStatus.Error), (own.Root, own.Jobs.Count, own.Status));
    }
}
