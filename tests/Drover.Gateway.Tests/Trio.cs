using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Drover.Processor;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.Gateway.Tests;

/// <summary>
/// The real trio on free 127.0.0.1 ports: a Processor named <see cref="NodeName"/> over a temporary state directory,
/// a Scheduler over a temporary SQLite file that knows that node, and a Gateway in front with one key per role.
/// Every service requires its token, as in production.
/// </summary>
public sealed class Trio : IAsyncLifetime
{
    public const string NodeName = "node1";
    public const string ReadKey = "read-key-1";
    public const string SubmitKey = "submit-key-1";
    public const string AdminKey = "admin-key-1";
    public const string SchedulerToken = "scheduler-service-token";
    public const string ProcessorToken = "processor-service-token";
    public const string JobTokenKey = "job-token-hmac-key";
    public const string NodeCredential = "node1-own-credential";

    private readonly List<WebApplication> _apps = [];

    public string Root { get; } = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-gateway-tests", Guid.NewGuid().ToString("N"))).FullName;
    public string StateDirectory => Path.Combine(Root, "processor");
    public Uri ProcessorUrl { get; private set; } = null!;
    public Uri SchedulerUrl { get; private set; } = null!;
    public Uri GatewayUrl { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var processor = ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", StateDirectory,
            "--Processor:Token", ProcessorToken,
            "--Processor:Name", NodeName,
            "--Processor:KillGracePeriod", "00:00:01"]);
        ProcessorUrl = await StartAsync(processor);

        var scheduler = SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Path.Combine(Root, "scheduler.db"),
            "--Scheduler:DataDirectory", Path.Combine(Root, "uploads"),
            "--Scheduler:Token", SchedulerToken,
            "--Scheduler:JobTokenKey", JobTokenKey,
            "--Scheduler:NodeToken", ProcessorToken,
            "--Scheduler:NodeCredentials:" + NodeName, NodeCredential,
            // A job token dies with its attempt, at once: the endpoint matrix asks with a stopped job's token.
            "--Scheduler:JobTokenGrace", "00:00:00",
            "--Scheduler:Nodes:0:Name", NodeName,
            "--Scheduler:Nodes:0:Uri", ProcessorUrl.ToString(),
            "--Scheduler:PollInterval", "00:00:00.500",
            "--Scheduler:MaxRequestBodySize", (200L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        SchedulerUrl = await StartAsync(scheduler);

        GatewayUrl = await StartAsync(GatewayApp.Create(GatewayArgs()));
    }

    /// <summary>The gateway's arguments for this trio, plus any more (later ones win).</summary>
    public string[] GatewayArgs(params string[] more) =>
    [
        "--urls", "http://127.0.0.1:0",
        "--Gateway:SchedulerUrls", SchedulerUrl.ToString(),
        "--Gateway:ProcessorUrl", ProcessorUrl.ToString(),
        "--Gateway:SchedulerToken", SchedulerToken,
        "--Gateway:ProcessorToken", ProcessorToken,
        "--Gateway:JobTokenKey", JobTokenKey,
        "--Gateway:Keys:0:Name", "reader", "--Gateway:Keys:0:Key", ReadKey, "--Gateway:Keys:0:Role", "read",
        "--Gateway:Keys:1:Name", "submitter", "--Gateway:Keys:1:Key", SubmitKey, "--Gateway:Keys:1:Role", "submit",
        // The admin key is configured by its hash, the way a shared configuration file should hold it.
        "--Gateway:Keys:2:Name", "operator", "--Gateway:Keys:2:Sha256", Sha256Hex(AdminKey), "--Gateway:Keys:2:Role", "admin",
        .. more,
    ];

    /// <summary>Starts one more app for a test (stopped with the trio) and returns its address.</summary>
    public async Task<Uri> StartAsync(WebApplication app)
    {
        _apps.Add(app);
        await app.StartAsync();
        return new Uri(app.Urls.First());
    }

    public HttpClient Client(string? key, Uri? gateway = null)
    {
        var client = new HttpClient { BaseAddress = gateway ?? GatewayUrl, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    public static string Sha256Hex(string key) =>
        Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Submits a job through the gateway and returns its id.</summary>
    public static async Task<long> SubmitAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/scheduler/jobs/new", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
    }

    /// <summary>Waits (generously: the machine may be loaded) until the job's state is the one given.</summary>
    public static async Task<JsonElement> WaitForStateAsync(HttpClient client, long id, string state, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            using var response = await client.GetAsync($"/scheduler/jobs/{id}/status");
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
            var status = JsonDocument.Parse(body).RootElement.Clone();
            if (status.GetProperty("state").GetString() == state)
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {id} is not {state} after {seconds} s: {body}");
            await Task.Delay(100);
        }
    }

    /// <summary>A port nothing listens on (bound and released at once).</summary>
    public static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async Task DisposeAsync()
    {
        // Gateway first, then the scheduler, then the node: the reverse of the start.
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
public sealed class TrioGroup : ICollectionFixture<Trio>
{
    public const string Name = "trio";
}

/// <summary>Problem details as the services write them.</summary>
internal static class Problems
{
    public static async Task<JsonElement> AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        return problem;
    }
}
