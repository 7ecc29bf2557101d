using System.Net.Http.Json;
using System.Text.Json;
using Drover.Aws.Ec2;
using Drover.Aws.Tests.Fake;
using Drover.Processor;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Drover.Aws.Tests;

/// <summary>A real Processor on 127.0.0.1, found by the scheduler through EC2 discovery on the test server.</summary>
public sealed class SchedulerEc2Tests
{
    private const string Instance = "i-0123456789abcdef0";
    private const string ProcessorToken = "ec2-processor-token";

    [Fact]
    public async Task A_discovered_processor_runs_jobs_is_drained_while_its_instance_is_gone_and_its_jobs_finish_and_takes_jobs_again_when_it_returns()
    {
        await using var fake = await FakeAws.StartAsync();
        var state = Directory.CreateTempSubdirectory("drover-ec2-processor-").FullName;
        await using var processor = ProcessorApp.Create(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Processor:StateDirectory={state}",
            "--Processor:Name=worker-host",
            $"--Processor:Token={ProcessorToken}",
            "--Processor:Labels:pool=ec2",
            "--Serilog:MinimumLevel:Default=Warning",
        ]);
        await processor.StartAsync();
        var port = new Uri(processor.Urls.First()).Port;
        // The instance's private address is where the Processor listens; Aws:Ec2Discovery:Port gives the port.
        fake.AddInstance(new FakeInstance(Instance, "127.0.0.1", "running", new Dictionary<string, string>
        {
            ["drover:role"] = "processor",
            ["Name"] = "worker",
        }));
        fake.AddInstance(new FakeInstance("i-0fffffffffffffff0", "127.0.0.1", "running", new Dictionary<string, string> { ["Name"] = "database" }));
        await using var scheduler = new TestScheduler(fake,
            $"--Scheduler:NodeToken={ProcessorToken}",
            "--Scheduler:HeartbeatTimeout=00:00:30",
            "--Aws:Ec2Discovery:Enabled=true",
            $"--Aws:Ec2Discovery:Region={FakeAws.Region}",
            $"--Aws:Ec2Discovery:EndpointUrl={fake.Url}",
            $"--Aws:Ec2Discovery:Port={port}",
            "--Aws:Ec2Discovery:RefreshInterval=00:00:00.200");
        await scheduler.StartAsync();
        try
        {
            var node = await WaitForNodeAsync(scheduler, n => n.GetProperty("health").GetString() == "up", "the instance to be registered");
            Assert.Equal($"http://127.0.0.1:{port}", node.GetProperty("uri").GetString());
            var labels = node.GetProperty("labels");
            Assert.Equal("ec2", labels.GetProperty("backend").GetString());
            Assert.Equal(Instance, labels.GetProperty("instance_id").GetString());
            Assert.Equal("worker", labels.GetProperty("tag:Name").GetString());
            Assert.Equal("ec2", labels.GetProperty("pool").GetString()); // the Processor's own label, from its info
            var listed = await scheduler.Client.GetFromJsonAsync<JsonElement>("/scheduler/nodes");
            Assert.DoesNotContain("i-0fffffffffffffff0", listed.GetRawText(), StringComparison.Ordinal);

            var quick = await scheduler.SubmitAsync(Job(["sh", "-c", "echo on ec2"]));
            var quickStatus = await scheduler.WaitForStateAsync(quick, "stopped");
            Assert.Equal("good", quickStatus.GetProperty("status").GetString());
            Assert.Equal(Instance, quickStatus.GetProperty("node").GetString());
            Assert.Equal("on ec2\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{quick}/log"));

            var go = Path.Combine(state, "go");
            var slow = await scheduler.SubmitAsync(Job(["sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.1; done; echo finished", "job", go]));
            await scheduler.WaitForStateAsync(slow, "running");

            fake.RemoveInstance(Instance);
            await WaitForNodeAsync(scheduler, n => n.GetProperty("drained").GetBoolean(), "the vanished instance to be drained");
            var waiting = await scheduler.SubmitAsync(Job(["true"]));

            // While a job runs there, discovery keeps the node (drained), asking the store at every refresh.
            var processors = scheduler.Services.GetRequiredService<Ec2Processors>();
            var refreshes = fake.Calls.Count(c => c == "DescribeInstances");
            await AwsTestHost.WaitFor(async () => fake.Calls.Count(c => c == "DescribeInstances") >= refreshes + 3 ? "" : null, "three more refreshes");
            Assert.Equal(DiscoveredState.Draining, Assert.Single(processors.Nodes).State);

            await File.WriteAllTextAsync(go, "");
            var slowStatus = await scheduler.WaitForStateAsync(slow, "stopped");
            Assert.Equal("good", slowStatus.GetProperty("status").GetString());
            Assert.Equal("finished\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{slow}/log"));
            await AwsTestHost.WaitFor(async () => processors.Nodes.Count == 0 ? "" : null, "discovery to let the idle instance go");

            // Nothing new went to the drained node, though it was up all along.
            var waitingStatus = await scheduler.StatusAsync(waiting);
            Assert.Equal("queued", waitingStatus.GetProperty("state").GetString());
            var drained = await WaitForNodeAsync(scheduler, n => n.GetProperty("drained").GetBoolean(), "the node to stay drained");
            Assert.Equal("up", drained.GetProperty("health").GetString());

            // The instance comes back (started again): the node takes jobs again, and the waiting one runs there.
            fake.AddInstance(new FakeInstance(Instance, "127.0.0.1", "running", new Dictionary<string, string> { ["drover:role"] = "processor" }));
            await WaitForNodeAsync(scheduler, n => !n.GetProperty("drained").GetBoolean(), "the returned instance to be undrained");
            var ranLater = await scheduler.WaitForStateAsync(waiting, "stopped");
            Assert.Equal("good", ranLater.GetProperty("status").GetString());
            Assert.Equal(Instance, ranLater.GetProperty("node").GetString());
            Assert.Empty(fake.Rejections);
        }
        finally
        {
            await scheduler.StopAsync();
            await processor.StopAsync();
            Directory.Delete(state, recursive: true);
        }
    }

    [Fact]
    public async Task A_scheduler_with_a_wrong_discovery_setting_does_not_start_and_names_every_mistake()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new TestScheduler(fake,
            "--Aws:Ec2Discovery:Enabled=true",
            "--Aws:Ec2Discovery:Port=70000",
            "--Aws:Ec2Discovery:PageSize=2",
            "--Aws:Ec2Discovery:RefreshInterval=00:00:00");

        var error = await Assert.ThrowsAsync<OptionsValidationException>(scheduler.StartAsync);

        Assert.Contains("Aws:Ec2Discovery:Region is required", error.Failures);
        Assert.Contains("Aws:Ec2Discovery:Port must be a TCP port", error.Failures);
        Assert.Contains("Aws:Ec2Discovery:PageSize must be between 5 and 1000", error.Failures);
        Assert.Contains("Aws:Ec2Discovery:RefreshInterval must be positive", error.Failures);
        Assert.DoesNotContain("DescribeInstances", fake.Calls);
    }

    private static object Job(string[] argv) => new
    {
        commands = new[] { new { exec = argv } },
        max_attempts = 1,
        constraints = new { node = Instance },
    };

    /// <summary>The instance's node as <c>GET /scheduler/nodes</c> lists it, once it meets the condition.</summary>
    private static async Task<JsonElement> WaitForNodeAsync(TestScheduler scheduler, Func<JsonElement, bool> condition, string what) =>
        (JsonElement)await AwsTestHost.WaitFor(async () =>
        {
            var list = await scheduler.Client.GetFromJsonAsync<JsonElement>("/scheduler/nodes");
            var found = list.GetProperty("nodes").EnumerateArray().Where(n => n.GetProperty("name").GetString() == Instance).ToList();
            return found is [var node] && condition(node) ? (object)node : null;
        }, what);
}
