using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Drover.Aws.Tests.Fake;
using Drover.EcsService;
using Drover.Gateway;
using Microsoft.AspNetCore.Builder;

namespace Drover.Aws.Tests;

/// <summary>
/// The ECS node service as a node of a real scheduler: registered by its heartbeat, placed on, followed, killed,
/// read through the gateway, and restarted in the middle of a job without starting anything twice.
/// </summary>
public sealed class SchedulerEcsServiceTests : IAsyncLifetime, IDisposable
{
    private const string NodeName = "ecs-service";
    private readonly string _token = Guid.NewGuid().ToString("N");
    private readonly int _port = FreePort();
    private readonly int _deadPort = FreePort();
    private FakeAws _fake = null!;
    private TestScheduler _scheduler = null!;
    private WebApplication? _service;
    private WebApplication _gateway = null!;
    private HttpClient _viaGateway = null!;

    public async Task InitializeAsync()
    {
        _fake = await FakeAws.StartAsync();
        _scheduler = new TestScheduler(_fake, $"--Scheduler:NodeToken={_token}");
        await _scheduler.StartAsync();
        await StartServiceAsync();
        _gateway = GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls:0", _scheduler.Client.BaseAddress!.ToString(),
            "--Gateway:NodeToken", _token,
            "--Gateway:NodeCacheTtl", "00:00:00.100",
            "--Serilog:MinimumLevel:Default", "Warning",
        ]);
        await _gateway.StartAsync();
        _viaGateway = new HttpClient { BaseAddress = new Uri(_gateway.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        await AwsTestHost.WaitFor(async () =>
        {
            var nodes = await _scheduler.Client.GetFromJsonAsync<JsonElement>("/scheduler/nodes");
            return nodes.GetProperty("nodes").EnumerateArray().Any(n => n.GetProperty("name").GetString() == NodeName) ? "" : null;
        }, "the ECS node service to register by heartbeat");
    }

    private async Task StartServiceAsync()
    {
        _service = EcsNodeApp.Create([
            .. EcsNodeService.Arguments(_fake, _token, _port, NodeName),
            // A first scheduler that is down: registration and pushes fail over to the one that answers.
            "--EcsNode:SchedulerUrls:0", $"http://127.0.0.1:{_deadPort}/",
            "--EcsNode:SchedulerUrls:1", _scheduler.Client.BaseAddress!.ToString(),
        ]);
        await _service.StartAsync();
    }

    private async Task StopServiceAsync()
    {
        await _service!.StopAsync();
        await _service.DisposeAsync();
        _service = null;
    }

    // xunit calls DisposeAsync, then Dispose: the services stop first, the client goes last.
    public void Dispose() => _viaGateway.Dispose();

    public async Task DisposeAsync()
    {
        await _gateway.StopAsync();
        await _gateway.DisposeAsync();
        if (_service is not null)
            await StopServiceAsync();
        await _scheduler.DisposeAsync();
        await _fake.DisposeAsync();
    }

    private Task<long> SubmitAsync(params string[] argv) =>
        _scheduler.SubmitAsync(new { commands = new[] { new { exec = argv } }, constraints = new { node = NodeName } });

    [Fact]
    public async Task A_job_runs_as_a_task_and_its_log_reads_through_the_gateway()
    {
        var id = await SubmitAsync("sh", "-c", "echo hello from ecs; exit 0");
        var done = await _scheduler.WaitForStateAsync(id, "stopped");
        Assert.Equal("good", done.GetProperty("status").GetString());
        Assert.Equal(NodeName, done.GetProperty("node").GetString());
        var task = Assert.Single(_fake.Tasks);
        Assert.Equal("STOPPED", task.LastStatus);
        Assert.Equal(0, task.ExitCode);

        Assert.Equal("hello from ecs\n", await _viaGateway.GetStringAsync($"/scheduler/jobs/{id}/log"));
        // The gateway's node routes reach this node's own API (an in-scheduler ECS node has none: 409).
        var info = await _viaGateway.GetFromJsonAsync<JsonElement>($"/nodes/{NodeName}/processor/info");
        Assert.Equal(NodeName, info.GetProperty("name").GetString());
        Assert.Equal("ecs-node", info.GetProperty("labels").GetProperty("backend").GetString());
    }

    [Fact]
    public async Task A_kill_reaches_StopTask()
    {
        var id = await SubmitAsync("sleep", "30");
        await _scheduler.WaitForStateAsync(id, "running");
        await AwsTestHost.WaitFor(() => Task.FromResult(_fake.Tasks.FirstOrDefault(t => t.LastStatus == "RUNNING")), "the task to run");
        using (var kill = await _scheduler.Client.PostAsync($"/scheduler/jobs/{id}/kill", null))
            Assert.True(kill.IsSuccessStatusCode, await kill.Content.ReadAsStringAsync());
        var done = await _scheduler.WaitForStateAsync(id, "stopped");
        Assert.Equal("killed", done.GetProperty("reason").GetString());
        var task = Assert.Single(_fake.Tasks);
        Assert.Equal("UserInitiated", task.StopCode);
        Assert.Contains("StopTask", _fake.Calls);
    }

    [Fact]
    public async Task A_restart_of_the_service_finds_the_task_again_and_starts_nothing_twice()
    {
        var id = await SubmitAsync("sh", "-c", "sleep 2; echo finished");
        await AwsTestHost.WaitFor(() => Task.FromResult(_fake.Tasks.FirstOrDefault(t => t.LastStatus == "RUNNING")), "the task to run");
        await StopServiceAsync();
        await Task.Delay(TimeSpan.FromSeconds(1));
        await StartServiceAsync();

        var done = await _scheduler.WaitForStateAsync(id, "stopped");
        Assert.Equal("good", done.GetProperty("status").GetString());
        Assert.Equal(1, _fake.TasksCreated);
        var record = await _scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{id}");
        Assert.Single(record.GetProperty("attempts").EnumerateArray());
        Assert.Equal("finished\n", await _viaGateway.GetStringAsync($"/scheduler/jobs/{id}/log"));
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>The ECS node service refuses settings that would make it unsafe or ambiguous, before it listens.</summary>
public sealed class EcsNodeServiceOptionsTests
{
    [Fact]
    public async Task It_refuses_to_listen_beyond_loopback_without_a_token()
    {
        await using var fake = await FakeAws.StartAsync();
        var arguments = EcsNodeService.Arguments(fake, "unused").Where(a => a != "--EcsNode:Token" && a != "unused").ToList();
        arguments[arguments.IndexOf("--urls") + 1] = "http://0.0.0.0:0";
        var error = Assert.Throws<InvalidOperationException>(() => EcsNodeApp.Create([.. arguments]));
        Assert.Contains("without a token", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_serves_exactly_one_cluster()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var app = EcsNodeApp.Create([
            .. EcsNodeService.Arguments(fake, "t0k3n"),
            "--Aws:EcsNodes:1:Name=second", "--Aws:EcsNodes:1:Region=us-east-1", "--Aws:EcsNodes:1:Cluster=other",
            "--Aws:EcsNodes:1:TaskDefinition=drover-job", "--Aws:EcsNodes:1:ContainerName=main",
            "--Aws:EcsNodes:1:LogGroup=/drover/jobs", "--Aws:EcsNodes:1:LogStreamPrefix=drover",
        ]);
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
        Assert.Contains("exactly one ECS cluster", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_takes_one_scheduler_url_or_a_list_not_both()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var app = EcsNodeApp.Create([
            .. EcsNodeService.Arguments(fake, "t0k3n"),
            "--EcsNode:SchedulerUrl=http://127.0.0.1:8081", "--EcsNode:SchedulerUrls=http://127.0.0.1:8091;ftp://scheduler",
        ]);
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => app.StartAsync());
        Assert.Contains(error.Failures, f => f.Contains("EcsNode:SchedulerUrl and EcsNode:SchedulerUrls", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("'ftp://scheduler'", StringComparison.Ordinal));
    }
}
