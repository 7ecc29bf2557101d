using Drover.Aws.Ecs;
using Drover.Aws.Tests.Fake;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Drover.Aws.Tests;

/// <summary>
/// Drover's AWS part wired as a service would wire it (configuration, AddDroverAws, the signed retrying client),
/// pointed at the test server with its test credentials.
/// </summary>
internal sealed class AwsTestHost : IAsyncDisposable
{
    public const string NodeName = "ecs-test";
    private readonly ServiceProvider _provider;

    public AwsTestHost(
        FakeAws fake, Action<Dictionary<string, string?>>? configure = null, TimeProvider? time = null, Action<IServiceCollection>? services = null)
    {
        var settings = Settings(fake);
        configure?.Invoke(settings);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var collection = new ServiceCollection();
        collection.AddSingleton<IConfiguration>(configuration);
        collection.AddLogging(l => l.SetMinimumLevel(LogLevel.Warning));
        if (time is not null)
            collection.AddSingleton(time);
        services?.Invoke(collection);
        collection.AddDroverAws();
        _provider = collection.BuildServiceProvider(new ServiceProviderOptions { ValidateOnBuild = true, ValidateScopes = true });
    }

    /// <summary>The configuration of one ECS node, <see cref="NodeName"/>, on the test server, with its test credentials.</summary>
    public static Dictionary<string, string?> Settings(FakeAws fake)
    {
        ArgumentNullException.ThrowIfNull(fake);
        return new Dictionary<string, string?>
        {
            ["Aws:AccessKeyId"] = FakeAws.AccessKeyId,
            ["Aws:SecretAccessKey"] = FakeAws.SecretAccessKey,
            ["Aws:MaxRetries"] = "3",
            ["Aws:RetryDelay"] = "00:00:00.050",
            ["Aws:EcsNodes:0:Name"] = NodeName,
            ["Aws:EcsNodes:0:Region"] = FakeAws.Region,
            ["Aws:EcsNodes:0:Cluster"] = FakeAws.Cluster,
            ["Aws:EcsNodes:0:TaskDefinition"] = "drover-job",
            ["Aws:EcsNodes:0:ContainerName"] = "main",
            ["Aws:EcsNodes:0:LaunchType"] = "FARGATE",
            ["Aws:EcsNodes:0:Subnets:0"] = "subnet-0a1b2c3d",
            ["Aws:EcsNodes:0:SecurityGroups:0"] = "sg-0a1b2c3d",
            ["Aws:EcsNodes:0:AssignPublicIp"] = "false",
            ["Aws:EcsNodes:0:LogGroup"] = "/drover/jobs",
            ["Aws:EcsNodes:0:LogStreamPrefix"] = "drover",
            ["Aws:EcsNodes:0:EndpointUrl"] = fake.Url.ToString(),
            ["Aws:EcsNodes:0:MissingGrace"] = "00:00:30",
            ["Aws:EcsNodes:0:LogPollInterval"] = "00:00:00.100",
        };
    }

    public IServiceProvider Services => _provider;

    public Ecs.EcsNode Node => _provider.GetRequiredService<EcsNodes>().Find(NodeName)!;

    public ValueTask DisposeAsync() => _provider.DisposeAsync();

    /// <summary>Waits on a condition with a generous limit: a loaded machine is slow, never wrong.</summary>
    public static async Task<T> WaitFor<T>(Func<Task<T?>> probe, string what, TimeSpan? limit = null)
        where T : class
    {
        var deadline = DateTime.UtcNow + (limit ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            if (await probe() is { } found)
                return found;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(100);
        }
    }

    public async Task<EcsAttemptStatus> WaitForStatus(string arn, Func<EcsAttemptStatus, bool> condition, string what) =>
        await WaitFor(async () =>
        {
            var status = await Node.StatusAsync([arn], CancellationToken.None);
            return status.TryGetValue(arn, out var s) && condition(s) ? s : null;
        }, what);
}
