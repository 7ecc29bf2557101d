using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>The service token guards the scheduler; a job's own token may read and submit jobs, and makes it the parent.</summary>
public class AccessTests() : ClusterTest(0, $"--Scheduler:Token={Token}", "--Scheduler:JobTokenKey=job-key")
{
    private const string Token = "scheduler-secret";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Cluster.UseToken(Token);
        await Cluster.AddNodeAsync("n1", 4, $"--Processor:SchedulerToken={Token}");
    }

    [Fact]
    public async Task Calls_without_the_token_are_401s()
    {
        using var anonymous = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        using var list = await anonymous.GetAsync("/scheduler/jobs");
        Assert.Equal(HttpStatusCode.Unauthorized, list.StatusCode);
        Assert.Equal("application/problem+json", list.Content.Headers.ContentType?.MediaType);
        using var heartbeat = await anonymous.PostAsJsonAsync(NodeRoutes.Heartbeat, new NodeInfo { Name = "intruder", Uri = "http://127.0.0.1:9/" }, DroverJson.Options);
        Assert.Equal(HttpStatusCode.Unauthorized, heartbeat.StatusCode);
        using var health = await anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task A_job_submits_a_child_with_its_own_token_and_may_do_nothing_else()
    {
        var output = Path.Combine(Cluster.Directory, "drain-answer");
        var script =
            "curl -sf -H \"Authorization: Bearer $DROVER_TOKEN\" --data-urlencode 'command=echo child' \"$DROVER_URL/scheduler/jobs/new\" && " +
            "curl -sf -H \"Authorization: Bearer $DROVER_TOKEN\" \"$DROVER_URL/scheduler/jobs/$DROVER_JOB_ID/status\" > /dev/null && " +
            $"curl -s -o /dev/null -w '%{{http_code}}' -X POST -H \"Authorization: Bearer $DROVER_TOKEN\" \"$DROVER_URL/scheduler/nodes/n1/drain\" > {output}";
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(script)], MaxAttempts = 1 });
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(parent)).Status);
        Assert.Equal("403", await File.ReadAllTextAsync(output));
        Assert.False((await Cluster.NodesAsync()).Single().Drained);

        var child = Assert.Single((await Cluster.JobAsync(parent)).Children);
        Assert.Equal(parent, (await Cluster.StatusAsync(child)).Parent);
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(child)).Status);
        var children = await Cluster.Client.GetFromJsonAsync<JobPage>($"/scheduler/jobs?parent={parent}", DroverJson.Options);
        Assert.Equal(child, Assert.Single(children!.Jobs).JobId);
    }
}

/// <summary>Nodes configured in the scheduler's options (no heartbeat) are asked for their info and used.</summary>
public sealed class ConfiguredNodeTests : IAsyncLifetime
{
    private string _directory = null!;
    private ProcessorNode _node = null!;
    private Cluster _cluster = null!;

    public async Task InitializeAsync()
    {
        _directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"))).FullName;
        _node = await Cluster.StartProcessorAsync(_directory, "configured", 2, "--Processor:Token=node-secret", "--Processor:Labels:zone=a");
        _cluster = await Cluster.StartAsync(0,
            "--Scheduler:Nodes:0:Name=static1",
            $"--Scheduler:Nodes:0:Uri={_node.Address}",
            "--Scheduler:Nodes:0:Labels:rack=r1",
            "--Scheduler:NodeToken=node-secret");
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        await _node.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task A_configured_node_takes_jobs_with_its_labels_and_the_node_token()
    {
        await Cluster.Eventually(async () => (await _cluster.NodesAsync("/scheduler/nodes/available")).Any(n => n.Slots == 2), 30, "the node's info");
        var node = Assert.Single(await _cluster.NodesAsync());
        Assert.Equal(("static1", "static"), (node.Name, node.Source));
        Assert.Equal("a", node.Labels["zone"]);
        Assert.Equal("r1", node.Labels["rack"]);

        var id = await _cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromArgv("echo", "hi")],
            Constraints = new JobConstraints { Labels = new Dictionary<string, string> { ["rack"] = "r1", ["zone"] = "a" } },
        });
        var status = await _cluster.WaitStoppedAsync(id);
        Assert.Equal((JobStatus.Good, "static1"), (status.Status, status.Node));
        Assert.Equal("hi\n", await _cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log"));
    }
}
