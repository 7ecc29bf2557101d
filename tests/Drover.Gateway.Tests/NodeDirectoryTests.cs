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
        var scheduler = await trio.StartAsync(SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Path.Combine(root, "scheduler.db"),
            "--Scheduler:DataDirectory", Path.Combine(root, "uploads"),
            "--Scheduler:Token", Trio.SchedulerToken,
            "--Scheduler:NodeToken", Trio.ProcessorToken]));
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
}
