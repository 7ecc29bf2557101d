using System.Net;
using System.Text.Json;
using Drover.Processor;
using Drover.Scheduler;

namespace Drover.Gateway.Tests;

[Collection(TrioGroup.Name)]
public sealed class NodeDirectoryTests(Trio trio)
{
    [Fact]
    public async Task A_node_that_registers_after_the_gateway_read_the_list_is_found_by_name()
    {
        // A scheduler of its own, so that the late node takes no job from the other tests.
        var root = Directory.CreateDirectory(Path.Combine(trio.Root, "late-" + Guid.NewGuid().ToString("N"))).FullName;
        var scheduler = await StartSchedulerAsync(root, "--Scheduler:NodeToken", Trio.ProcessorToken);
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs(
            "--Gateway:SchedulerUrls", scheduler.ToString(), "--Gateway:NodeCacheTtl", "00:10:00")));
        using var admin = trio.Client(Trio.AdminKey, gateway);

        using (var unknown = await admin.GetAsync("/nodes/late-node/processor/info"))
            await Problems.AssertProblemAsync(unknown, HttpStatusCode.NotFound);

        await trio.StartAsync(ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", Path.Combine(root, "processor"),
            "--Processor:Token", Trio.ProcessorToken,
            "--Processor:Name", "late-node",
            "--Processor:SchedulerUrl", scheduler.ToString(),
            "--Processor:SchedulerToken", Trio.SchedulerToken]));

        // The list is cached for ten minutes here, yet a name it lacks makes the gateway ask again (at most once a second).
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            using var response = await admin.GetAsync("/nodes/late-node/processor/info");
            if (response.StatusCode == HttpStatusCode.OK)
            {
                var info = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
                Assert.Equal("late-node", info.GetProperty("name").GetString());
                return;
            }
            await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound);
            Assert.True(DateTime.UtcNow < deadline, "the late node was never found by name");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task An_ECS_node_has_no_processor_API_and_the_gateway_says_so_instead_of_forwarding_to_AWS()
    {
        var root = Directory.CreateDirectory(Path.Combine(trio.Root, "ecs-" + Guid.NewGuid().ToString("N"))).FullName;
        // The ECS endpoint is a closed port: a forwarded request would fail there (502), not be answered 409.
        var scheduler = await StartSchedulerAsync(root,
            "--Aws:AccessKeyId", "AKIDDROVERTESTKEY001",
            "--Aws:SecretAccessKey", "drover-test-secret",
            "--Aws:EcsNodes:0:Name", "ecs-batch",
            "--Aws:EcsNodes:0:Region", "eu-west-1",
            "--Aws:EcsNodes:0:Cluster", "drover",
            "--Aws:EcsNodes:0:TaskDefinition", "drover-job",
            "--Aws:EcsNodes:0:ContainerName", "job",
            "--Aws:EcsNodes:0:LogGroup", "/ecs/drover-job",
            "--Aws:EcsNodes:0:LogStreamPrefix", "drover",
            "--Aws:EcsNodes:0:EndpointUrl", $"http://127.0.0.1:{Trio.ClosedPort()}/");
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs("--Gateway:SchedulerUrls", scheduler.ToString())));
        using var admin = trio.Client(Trio.AdminKey, gateway);

        using (var info = await admin.GetAsync("/nodes/ecs-batch/processor/info"))
        {
            var problem = await Problems.AssertProblemAsync(info, HttpStatusCode.Conflict);
            Assert.Contains("ECS node", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            Assert.Equal("ecs", problem.GetProperty("backend").GetString());
            Assert.True(problem.GetProperty("errors").TryGetProperty("name", out _));
        }
        using (var start = await admin.PostAsync("/nodes/ecs-batch/processor/jobs/new", new StringContent("{}", System.Text.Encoding.UTF8, "application/json")))
            await Problems.AssertProblemAsync(start, HttpStatusCode.Conflict);
        using (var unknown = await admin.GetAsync("/nodes/no-such-node/processor/info"))
            await Problems.AssertProblemAsync(unknown, HttpStatusCode.NotFound);
    }

    private Task<Uri> StartSchedulerAsync(string root, params string[] more) =>
        trio.StartAsync(SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Path.Combine(root, "scheduler.db"),
            "--Scheduler:DataDirectory", Path.Combine(root, "uploads"),
            "--Scheduler:Token", Trio.SchedulerToken,
            .. more]));
}
