using System.Net;
using System.Text;
using System.Text.Json;

namespace Drover.Gateway.Tests.Browser;

/// <summary>
/// What a browser sends for a page of another site, written out by hand: an open gateway (as <c>drover dev</c> runs
/// it) and an open Processor run nothing for it; clients that are not browsers (no Origin) work as before.
/// </summary>
[Collection(OpenTrioGroup.Name)]
public sealed class CrossSiteTests(OpenTrio trio)
{
    private const string Evil = "https://evil.example";

    [Fact]
    public async Task A_cross_site_form_post_to_the_open_gateway_is_refused_and_runs_nothing()
    {
        var before = await trio.JobsAsync();
        var marker = trio.Marker("form");
        using var gateway = trio.Client();
        using var request = Form("/scheduler/jobs/new", $"touch {marker}");
        request.Headers.Add("Origin", Evil);
        request.Headers.Add("Sec-Fetch-Site", "cross-site");
        using var response = await gateway.SendAsync(request);

        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains(Evil, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNothingRanAsync(before, marker);
    }

    [Theory]
    [InlineData("Origin", Evil)]
    [InlineData("Origin", "null")]
    [InlineData("Origin", "http://127.0.0.1:1")]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    public async Task Any_sign_of_another_site_is_enough_to_refuse(string header, string value)
    {
        var before = await trio.JobsAsync();
        var marker = trio.Marker("sign");
        using var gateway = trio.Client();
        using var request = Form("/scheduler/jobs/new", $"touch {marker}");
        request.Headers.Add(header, value);
        using var response = await gateway.SendAsync(request);

        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        await AssertNothingRanAsync(before, marker);
    }

    [Fact]
    public async Task A_no_cors_text_plain_post_to_the_open_Processor_is_refused_and_runs_nothing()
    {
        var before = await trio.JobsAsync();
        var marker = trio.Marker("no-cors");
        using var processor = trio.Client(trio.OpenProcessorUrl);
        // What fetch(url, {method: 'POST', mode: 'no-cors', body: JSON.stringify(job)}) sends.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/processor/jobs/new")
        {
            Content = new StringContent(Job(marker), Encoding.UTF8, "text/plain"),
        };
        request.Headers.Add("Origin", Evil);
        request.Headers.Add("Sec-Fetch-Site", "cross-site");
        using var response = await processor.SendAsync(request);
        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);

        // Without the browser's headers, text/plain is still no JSON body.
        using var plain = await processor.PostAsync("/processor/jobs/new", new StringContent(Job(marker), Encoding.UTF8, "text/plain"));
        await Problems.AssertProblemAsync(plain, HttpStatusCode.UnsupportedMediaType);
        using var viaGateway = await trio.Client().PostAsync("/processor/jobs/new", new StringContent(Job(marker), Encoding.UTF8, "text/plain"));
        await Problems.AssertProblemAsync(viaGateway, HttpStatusCode.UnsupportedMediaType);
        await AssertNothingRanAsync(before, marker);
    }

    [Fact]
    public async Task Curl_and_pages_of_the_gateway_itself_still_submit()
    {
        using var gateway = trio.Client();
        // The seed's call, as curl sends it: no Origin, no Sec-Fetch-*.
        using var curl = await gateway.SendAsync(Form("/scheduler/jobs/new", "echo hello from drover"));
        Assert.Equal(HttpStatusCode.Accepted, curl.StatusCode);

        // Swagger UI, served by the gateway: same origin.
        using var swagger = Json("/scheduler/jobs/new", """{"commands": [{"exec": ["true"]}]}""");
        swagger.Headers.Add("Origin", trio.GatewayUrl.GetLeftPart(UriPartial.Authority));
        swagger.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var sameOrigin = await gateway.SendAsync(swagger);
        Assert.Equal(HttpStatusCode.Accepted, sameOrigin.StatusCode);

        // A JSON body without a content type is still read as JSON (curl -d '{...}' with -H forgotten sends form
        // encoding, but other clients send none).
        using var bare = new HttpRequestMessage(HttpMethod.Post, "/processor/jobs/new")
        {
            Content = new ByteArrayContent(Encoding.UTF8.GetBytes("""{"commands": [{"exec": ["true"]}]}""")),
        };
        using var untyped = await trio.Client(trio.OpenProcessorUrl).SendAsync(bare);
        Assert.Equal(HttpStatusCode.Created, untyped.StatusCode);
    }

    [Fact]
    public async Task A_configured_origin_may_post()
    {
        var dashboard = "http://dashboard.example:3000";
        await using var app = GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", trio.SchedulerUrl.ToString(),
            "--Gateway:SchedulerToken", "open-trio-scheduler-token",
            "--Security:AllowedOrigins", dashboard]);
        await app.StartAsync();
        using var gateway = trio.Client(new Uri(app.Urls.First()));
        using var request = Json("/scheduler/jobs/new", """{"commands": [{"exec": ["true"]}]}""");
        request.Headers.Add("Origin", dashboard);
        request.Headers.Add("Sec-Fetch-Site", "cross-site");
        using var response = await gateway.SendAsync(request);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        await app.StopAsync();
    }

    [Theory]
    [InlineData("attacker.example")]
    [InlineData("attacker.example:8080")]
    [InlineData("127.0.0.1.nip.io")]
    public async Task A_foreign_Host_is_refused_by_open_services(string host)
    {
        foreach (var address in new[] { trio.GatewayUrl, trio.OpenProcessorUrl })
        {
            using var client = trio.Client(address);
            foreach (var path in new[] { "/processor/info", "/swagger/index.html" })
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, path);
                request.Headers.Host = host;
                using var response = await client.SendAsync(request);
                var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.MisdirectedRequest);
                Assert.Contains(host, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
            }
        }

        // Loopback names and addresses are this machine's own.
        foreach (var own in new[] { "localhost", $"127.0.0.1:{trio.GatewayUrl.Port}", $"[::1]:{trio.GatewayUrl.Port}", "LOCALHOST" })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/processor/info");
            request.Headers.Host = own;
            using var response = await trio.Client().SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{own}: {(int)response.StatusCode}");
        }
    }

    [Fact]
    public async Task Configured_host_names_are_served()
    {
        await using var app = Drover.Processor.ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", Path.Combine(trio.Root, "named-" + Guid.NewGuid().ToString("N")),
            "--Security:AllowedHosts", "drover.internal;*.nodes.example"]);
        await app.StartAsync();
        using var client = trio.Client(new Uri(app.Urls.First()));
        foreach (var (host, expected) in new[]
        {
            ("drover.internal", HttpStatusCode.OK), ("a.nodes.example:8082", HttpStatusCode.OK),
            ("nodes.example", HttpStatusCode.MisdirectedRequest), ("drover.internal.evil.example", HttpStatusCode.MisdirectedRequest),
        })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/processor/info");
            request.Headers.Host = host;
            using var response = await client.SendAsync(request);
            Assert.True(response.StatusCode == expected, $"{host}: {(int)response.StatusCode}");
        }
        await app.StopAsync();
    }

    [Fact]
    public async Task The_scheduler_refuses_a_page_of_another_site_even_with_its_token()
    {
        using var scheduler = trio.Client(trio.SchedulerUrl);
        scheduler.DefaultRequestHeaders.Authorization = new("Bearer", "open-trio-scheduler-token");
        using var request = Json("/scheduler/jobs/new", """{"commands": [{"exec": ["true"]}]}""");
        request.Headers.Add("Origin", Evil);
        using var response = await scheduler.SendAsync(request);
        await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);
    }

    private static HttpRequestMessage Form(string path, string command) => new(HttpMethod.Post, path)
    {
        Content = new FormUrlEncodedContent([new("command", command)]),
    };

    private static HttpRequestMessage Json(string path, string json) => new(HttpMethod.Post, path)
    {
        Content = new StringContent(json, Encoding.UTF8, "application/json"),
    };

    private static string Job(string marker) =>
        JsonSerializer.Serialize(new { commands = new[] { new { exec = new[] { "touch", marker } } } });

    /// <summary>
    /// No job was added anywhere, and the marker is not there once a job submitted after the refused ones has run
    /// (so a refused job that had slipped into the queue would have had its turn).
    /// </summary>
    private async Task AssertNothingRanAsync((List<long> Scheduled, List<string> OnNodes) before, string marker)
    {
        var after = await trio.JobsAsync();
        Assert.Equal(before.Scheduled, after.Scheduled);
        Assert.Equal(before.OnNodes.Order(StringComparer.Ordinal), after.OnNodes.Order(StringComparer.Ordinal));
        using var gateway = trio.Client();
        var sentinel = await Trio.SubmitAsync(gateway, """{"commands": [{"exec": ["true"]}]}""");
        await Trio.WaitForStateAsync(gateway, sentinel, "stopped");
        Assert.False(File.Exists(marker), $"{marker} exists: a refused request ran");
    }
}
