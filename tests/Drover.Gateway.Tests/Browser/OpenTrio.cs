using System.Net;
using System.Text.Json;
using Drover.Processor;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.Gateway.Tests.Browser;

/// <summary>
/// The services as <c>drover dev</c> runs them: a gateway with no keys (open, on loopback) in front of a scheduler
/// and a Processor that need their tokens; beside them a Processor run on its own with no token (open, on loopback),
/// the other kind of service a page might aim at. Every job of a test writes into <see cref="Markers"/>.
/// </summary>
public sealed class OpenTrio : IAsyncLifetime
{
    private const string SchedulerToken = "open-trio-scheduler-token";
    private const string ProcessorToken = "open-trio-processor-token";

    private readonly List<WebApplication> _apps = [];

    public string Root { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-open-trio", Guid.NewGuid().ToString("N"))).FullName;
    public string Markers => Path.Combine(Root, "markers");
    public Uri GatewayUrl { get; private set; } = null!;
    public Uri SchedulerUrl { get; private set; } = null!;
    public Uri OpenProcessorUrl { get; private set; } = null!;
    public string DevStateDirectory => Path.Combine(Root, "state");
    public string OpenStateDirectory => Path.Combine(Root, "open-state");
    public string Database => Path.Combine(Root, "scheduler.db");
    public string Uploads => Path.Combine(Root, "uploads");

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(Markers);
        var processor = await StartAsync(ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:Name", "local",
            "--Processor:StateDirectory", DevStateDirectory,
            "--Processor:Token", ProcessorToken]));
        OpenProcessorUrl = await StartAsync(ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:Name", "alone",
            "--Processor:StateDirectory", OpenStateDirectory]));
        SchedulerUrl = await StartAsync(SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Database,
            "--Scheduler:DataDirectory", Uploads,
            "--Scheduler:Token", SchedulerToken,
            "--Scheduler:NodeToken", ProcessorToken,
            "--Scheduler:Nodes:0:Name", "local",
            "--Scheduler:Nodes:0:Uri", processor.ToString(),
            "--Scheduler:PollInterval", "00:00:00.500"]));
        GatewayUrl = await StartAsync(GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", SchedulerUrl.ToString(),
            "--Gateway:SchedulerToken", SchedulerToken,
            "--Gateway:ProcessorUrl", processor.ToString(),
            "--Gateway:ProcessorToken", ProcessorToken]));
    }

    public HttpClient Client(Uri? address = null) => new() { BaseAddress = address ?? GatewayUrl, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>A path under <see cref="Markers"/> that a job of this test would create.</summary>
    public string Marker(string name) => Path.Combine(Markers, $"{name}-{Guid.NewGuid():N}");

    /// <summary>The ids of every job the scheduler holds, and the request ids of every job either Processor holds.</summary>
    public async Task<(List<long> Scheduled, List<string> OnNodes)> JobsAsync()
    {
        using var gateway = Client();
        using var ids = new HttpRequestMessage(HttpMethod.Get, "/scheduler/jobs");
        ids.Headers.Accept.ParseAdd("text/plain");
        using var idList = await gateway.SendAsync(ids);
        Assert.Equal(HttpStatusCode.OK, idList.StatusCode);
        var scheduled = (await idList.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(id => long.Parse(id, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var onNodes = new List<string>();
        using var alone = Client(OpenProcessorUrl);
        foreach (var client in new[] { gateway, alone })
        {
            using var list = await client.GetAsync("/processor/jobs/status");
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            onNodes.AddRange(JsonDocument.Parse(await list.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs").EnumerateArray()
                .Select(j => j.GetProperty("request_id").GetString()!));
        }
        return (scheduled, onNodes);
    }

    private async Task<Uri> StartAsync(WebApplication app)
    {
        _apps.Add(app);
        await app.StartAsync();
        return new Uri(app.Urls.First());
    }

    public async Task DisposeAsync()
    {
        for (var i = _apps.Count - 1; i >= 0; i--)
        {
            await _apps[i].StopAsync();
            await _apps[i].DisposeAsync();
        }
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A job's last file may still be closing; the temp folder is cleaned by the system later.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class OpenTrioGroup : ICollectionFixture<OpenTrio>
{
    public const string Name = "open-trio";
}
