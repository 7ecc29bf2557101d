using System.Collections.Concurrent;
using Drover.Aws.Ec2;
using Drover.Aws.Tests.Fake;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Drover.Aws.Tests;

public sealed class Ec2DiscoveryTests
{
    private static readonly Dictionary<string, string> ProcessorTags = new() { ["drover:role"] = "processor", ["Name"] = "worker" };

    private static FakeInstance Instance(int n, string state = "running", Dictionary<string, string>? tags = null) =>
        new($"i-{n:x17}", $"10.0.1.{n}", state, tags ?? ProcessorTags);

    [Fact]
    public async Task Discovery_lists_every_page_of_running_tagged_instances_as_processor_nodes()
    {
        await using var fake = await FakeAws.StartAsync();
        for (var n = 1; n <= 7; n++)
            fake.AddInstance(Instance(n));
        fake.AddInstance(Instance(8, tags: new Dictionary<string, string> { ["Name"] = "database" }));
        fake.AddInstance(Instance(9, state: "stopped"));
        var options = new Ec2DiscoveryOptions
        {
            Enabled = true,
            Region = FakeAws.Region,
            TagKey = "drover:role",
            TagValue = "processor",
            Port = 8082,
            PageSize = 5,
            EndpointUrl = fake.Url,
        };
        using var ec2 = Ec2Discovery.CreateClient(
            new AwsOptions { AccessKeyId = FakeAws.AccessKeyId, SecretAccessKey = FakeAws.SecretAccessKey }, options);

        var found = await new Ec2Discovery(ec2, options).ListAsync(CancellationToken.None);

        Assert.Equal(Enumerable.Range(1, 7).Select(n => $"http://10.0.1.{n}:8082"), found.Select(p => p.Uri));
        Assert.Equal(2, fake.Calls.Count(c => c == "DescribeInstances"));
        var first = found[0].Metadata();
        Assert.Equal("i-00000000000000001", first["instance_id"]);
        Assert.Equal("ip-10-0-1-1.ec2.internal", first["private_dns_name"]);
        Assert.Equal("processor", first["tag:drover:role"]);
        Assert.Equal("worker", first["tag:Name"]);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_vanished_instance_drains_and_goes_only_once_it_has_no_jobs()
    {
        await using var fake = await FakeAws.StartAsync();
        fake.AddInstance(Instance(1));
        fake.AddInstance(Instance(2));
        var usage = new Usage();
        await using var host = new AwsTestHost(fake, s =>
        {
            s["Aws:Ec2Discovery:Enabled"] = "true";
            s["Aws:Ec2Discovery:Region"] = FakeAws.Region;
            s["Aws:Ec2Discovery:EndpointUrl"] = fake.Url.ToString();
            s["Aws:Ec2Discovery:RefreshInterval"] = "00:00:00.200";
        }, services: s => s.AddSingleton<IDiscoveredNodeUsage>(usage));
        var processors = host.Services.GetRequiredService<Ec2Processors>();
        var changes = new ConcurrentQueue<DiscoveryChange>();
        processors.Changed += changes.Enqueue;
        var hosted = host.Services.GetServices<IHostedService>().ToList();
        foreach (var service in hosted)
            await service.StartAsync(CancellationToken.None);
        try
        {
            var second = Instance(2).InstanceId;
            await AwsTestHost.WaitFor(async () => processors.Nodes.Count == 2 ? "" : null, "both instances to be found");

            usage.Busy[second] = true;
            fake.RemoveInstance(second);
            await AwsTestHost.WaitFor(async () => changes.Any(c => c.Kind == DiscoveryChangeKind.Draining) ? "" : null, "the vanished one to drain");
            var refreshes = fake.Calls.Count(c => c == "DescribeInstances");
            await AwsTestHost.WaitFor(async () => fake.Calls.Count(c => c == "DescribeInstances") >= refreshes + 2 ? "" : null, "two more refreshes");
            var draining = Assert.Single(processors.Nodes, n => n.Processor.Name == second);
            Assert.Equal(DiscoveredState.Draining, draining.State);

            usage.Busy[second] = false;
            await AwsTestHost.WaitFor(async () => changes.Any(c => c.Kind == DiscoveryChangeKind.Removed) ? "" : null, "the idle one to go");
            var left = Assert.Single(processors.Nodes);
            Assert.Equal(Instance(1).InstanceId, left.Processor.Name);
            Assert.Equal(DiscoveredState.Active, left.State);
            Assert.Equal(
                [DiscoveryChangeKind.Added, DiscoveryChangeKind.Added, DiscoveryChangeKind.Draining, DiscoveryChangeKind.Removed],
                changes.Select(c => c.Kind));
            Assert.Empty(fake.Rejections);
        }
        finally
        {
            foreach (var service in hosted)
                await service.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_draining_instance_that_comes_back_is_active_again_and_a_changed_one_is_updated()
    {
        var processors = new Ec2Processors(TimeProvider.System);
        DiscoveredProcessor Seen(int n, string ip) => new()
        {
            Name = $"i-{n}",
            InstanceId = $"i-{n}",
            PrivateIp = ip,
            Uri = $"http://{ip}:8082",
        };

        Assert.Equal([DiscoveryChangeKind.Added], (await processors.ApplyAsync([Seen(1, "10.0.0.1")], CancellationToken.None)).Select(c => c.Kind));
        Assert.Empty((await processors.ApplyAsync([Seen(1, "10.0.0.1")], CancellationToken.None)));
        Assert.Equal([DiscoveryChangeKind.Updated], (await processors.ApplyAsync([Seen(1, "10.0.0.9")], CancellationToken.None)).Select(c => c.Kind));
        Assert.Equal([DiscoveryChangeKind.Draining], (await processors.ApplyAsync([], CancellationToken.None)).Select(c => c.Kind));
        Assert.Equal([DiscoveryChangeKind.Returned], (await processors.ApplyAsync([Seen(1, "10.0.0.9")], CancellationToken.None)).Select(c => c.Kind));
        Assert.Equal(DiscoveredState.Active, Assert.Single(processors.Nodes).State);
    }

    private sealed class Usage : IDiscoveredNodeUsage
    {
        public ConcurrentDictionary<string, bool> Busy { get; } = new();

        public ValueTask<bool> HasJobsAsync(string nodeName, CancellationToken cancellationToken) =>
            ValueTask.FromResult(Busy.GetValueOrDefault(nodeName));
    }
}
