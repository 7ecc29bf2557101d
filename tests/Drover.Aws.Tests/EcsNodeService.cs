using Drover.Aws.Tests.Fake;
using Drover.EcsService;
using Drover.NodeConformance;
using Microsoft.AspNetCore.Builder;

namespace Drover.Aws.Tests;

/// <summary>
/// The ECS node service (src/Drover.EcsService) in this process, on a free 127.0.0.1 port with a token, in front of its
/// own ECS test server (which runs each task as a local process, so the suite may look at /proc).
/// </summary>
public class EcsNodeService : NodeUnderTest
{
    private FakeAws? _fake;
    private WebApplication? _app;

    internal FakeAws Fake => _fake!;

    /// <summary>Settings beyond the test defaults, e.g. a scheduler to register with.</summary>
    protected virtual IEnumerable<string> ExtraArguments => [];

    public override async Task InitializeAsync()
    {
        _fake = await FakeAws.StartAsync();
        Token = Guid.NewGuid().ToString("N");
        IsLocal = true;
        await StartAsync();
    }

    /// <summary>Starts the service (again): it finds its jobs in ECS, having no store of its own.</summary>
    public async Task StartAsync(int port = 0)
    {
        _app = EcsNodeApp.Create([.. Arguments(Fake, Token!, port), .. ExtraArguments]);
        await _app.StartAsync();
        BaseUri = WithSlash(_app.Urls.First());
    }

    /// <summary>The service's arguments for one cluster on the test server (four slots, quick timeout checks).</summary>
    internal static string[] Arguments(FakeAws fake, string token, int port = 0, string name = AwsTestHost.NodeName)
    {
        var settings = AwsTestHost.Settings(fake);
        settings["Aws:EcsNodes:0:Slots"] = "4";
        settings["Aws:EcsNodes:0:Name"] = name;
        return
        [
            "--urls", $"http://127.0.0.1:{port}",
            "--EcsNode:Token", token,
            "--EcsNode:TimeoutCheckInterval", "00:00:00.200",
            "--EcsNode:HeartbeatInterval", "00:00:00.500",
            "--Serilog:MinimumLevel:Default", "Warning",
            .. settings.Select(s => $"--{s.Key}={s.Value}"),
        ];
    }

    public async Task StopAsync()
    {
        if (_app is null)
            return;
        await _app.StopAsync();
        await _app.DisposeAsync();
        _app = null;
    }

    public override async Task DisposeAsync()
    {
        if (_app is not null)
            await KillLeftoversAsync();
        await StopAsync();
        if (_fake is not null)
            await _fake.DisposeAsync();
    }
}

/// <summary>The node protocol's conformance suite, run against the ECS node service exactly as against the Processor and the shell node.</summary>
public sealed class EcsNodeConformance(EcsNodeService node) : NodeProtocolTests<EcsNodeService>(node);
