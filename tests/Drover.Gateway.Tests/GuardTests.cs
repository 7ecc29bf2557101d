using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Drover.ServiceDefaults;

namespace Drover.Gateway.Tests;

[Collection(TrioGroup.Name)]
public sealed class GuardTests(Trio trio)
{
    // Sent byte for byte: HttpClient and curl would resolve the dot segments before sending.
    [Theory]
    [InlineData("/scheduler/../processor/info")]
    [InlineData("/scheduler/./../processor/info")]
    [InlineData("/scheduler/%2e%2e/processor/info")]
    [InlineData("/scheduler/.%2E/processor/info")]
    [InlineData("/scheduler/jobs%2F..%2F..%2Fprocessor%2Finfo")]
    [InlineData("/scheduler/jobs%2fnew")]
    [InlineData("/nodes/node1/processor/..%5C..%5Cscheduler/nodes")]
    [InlineData("/scheduler\\..\\processor/info")]
    [InlineData("/scheduler/../swagger/index.html")]
    public async Task Paths_that_escape_their_route_are_a_400_problem(string rawPath)
    {
        var (status, contentType, body) = await RawGetAsync(rawPath, Trio.AdminKey);
        Assert.True(status == 400, $"{rawPath}: {status} {body}");
        Assert.Equal("application/problem+json", contentType);
    }

    [Fact]
    public async Task Raw_requests_on_plain_paths_pass()
    {
        var (status, _, body) = await RawGetAsync("/processor/info", Trio.AdminKey);
        Assert.True(status == 200, body);
        Assert.Contains(Trio.NodeName, body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Oversized_body_is_a_413_problem_declared_or_streamed()
    {
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs("--Gateway:MaxRequestBodySize", "1048576")));
        using var admin = trio.Client(Trio.AdminKey, gateway);
        // Expect: 100-continue, as curl sends for large bodies: the refusal comes before the body is sent, so the
        // client reads the answer rather than writing into a connection the gateway has closed.
        using var declared = new MultipartFormDataContent { { new StringContent("wc -c big.bin"), "command" }, { new ByteArrayContent(new byte[2 << 20]), "file", "big.bin" } };
        using var declaredRequest = new HttpRequestMessage(HttpMethod.Post, "/scheduler/jobs/new") { Content = declared };
        declaredRequest.Headers.ExpectContinue = true;
        using var refused = await admin.SendAsync(declaredRequest);
        await Problems.AssertProblemAsync(refused, HttpStatusCode.RequestEntityTooLarge);

        // No Content-Length: the limit is enforced as the bytes stream through (just over it, so that the client has
        // sent everything by the time the answer comes).
        using var chunked = new MultipartFormDataContent
        {
            { new StringContent("wc -c big.bin"), "command" },
            { new ByteArrayContent(new byte[(1 << 20) + (64 << 10)]), "file", "big.bin" },
        };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/scheduler/jobs/new") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        request.Headers.ExpectContinue = true;
        using var streamed = await admin.SendAsync(request);
        await Problems.AssertProblemAsync(streamed, HttpStatusCode.RequestEntityTooLarge);

        // Below the limit, the same gateway passes uploads on.
        using var small = new MultipartFormDataContent { { new StringContent("wc -c small.bin"), "command" }, { new ByteArrayContent(new byte[1000]), "file", "small.bin" } };
        using var accepted = await admin.PostAsync("/scheduler/jobs/new", small);
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
    }

    [Fact]
    public async Task Upload_with_a_file_name_that_leaves_the_working_directory_is_a_400_problem()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var form = new MultipartFormDataContent
        {
            { new StringContent("cat escaped.sh"), "command" },
            { new ByteArrayContent("echo escaped"u8.ToArray()), "file", "../escaped.sh" },
        };
        using var response = await admin.PostAsync("/scheduler/jobs/new", form);
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.BadRequest);
        Assert.True(problem.TryGetProperty("errors", out _), problem.ToString());
        Assert.Empty(Directory.EnumerateFiles(trio.Root, "escaped.sh", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task Active_health_checks_take_a_dead_scheduler_out_of_rotation()
    {
        var dead = $"http://127.0.0.1:{Trio.ClosedPort()}";
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs(
            "--Gateway:SchedulerUrls", $"{dead};{trio.SchedulerUrl}", "--Gateway:HealthCheckInterval", "00:00:00.200")));
        using var admin = trio.Client(Trio.AdminKey, gateway);

        // Both destinations are picked at random until the probes mark the dead one; after that every call succeeds.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        var inARow = 0;
        while (inARow < 20)
        {
            Assert.True(DateTime.UtcNow < deadline, "the dead scheduler was never taken out of rotation");
            using var response = await admin.GetAsync("/scheduler/nodes");
            inARow = response.StatusCode == HttpStatusCode.OK ? inARow + 1 : 0;
            if (inARow == 0)
                await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Oversized_headers_are_refused()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var request = new HttpRequestMessage(HttpMethod.Get, "/scheduler/jobs");
        request.Headers.Add("X-Padding", new string('x', 64 * 1024));
        using var response = await admin.SendAsync(request);
        Assert.Equal(HttpStatusCode.RequestHeaderFieldsTooLarge, response.StatusCode);
    }

    [Fact]
    public async Task Backend_down_is_a_502_or_503_problem_quickly()
    {
        var down = $"http://127.0.0.1:{Trio.ClosedPort()}";
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs(
            "--Gateway:SchedulerUrls", down, "--Gateway:ProcessorUrl", $"http://127.0.0.1:{Trio.ClosedPort()}")));
        using var admin = trio.Client(Trio.AdminKey, gateway);

        foreach (var path in new[] { "/scheduler/jobs", "/processor/info", $"/nodes/{Trio.NodeName}/processor/info", "/readyz" })
        {
            var clock = Stopwatch.StartNew();
            using var response = await admin.GetAsync(path);
            Assert.True(response.StatusCode is HttpStatusCode.BadGateway or HttpStatusCode.ServiceUnavailable,
                $"{path}: {(int)response.StatusCode}");
            await Problems.AssertProblemAsync(response, response.StatusCode);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(15), $"{path} took {clock.Elapsed}");
        }
    }

    [Fact]
    public async Task Jobs_of_one_DAG_share_one_rate_limit()
    {
        // Failure 3 of issue 12: each job token had its own bucket, so jobs that submit jobs escaped the limit.
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs(
            "--Gateway:RateLimit:PermitsPerSecond", "1", "--Gateway:RateLimit:Burst", "3")));
        using var first = trio.Client(JobTokens.Issue(7001, 1, 7001, Trio.JobTokenKey), gateway);
        using var second = trio.Client(JobTokens.Issue(7002, 1, 7001, Trio.JobTokenKey), gateway);
        using var third = trio.Client(JobTokens.Issue(7003, 1, 7001, Trio.JobTokenKey), gateway);
        using var elsewhere = trio.Client(JobTokens.Issue(7004, 1, 7004, Trio.JobTokenKey), gateway);

        // Each of these jobs alone stays under the burst; together (one DAG, root 7001) they do not.
        var answers = new List<HttpStatusCode>();
        foreach (var client in new[] { first, second, third, first, second, third })
        {
            using var response = await client.GetAsync("/scheduler/jobs/7001/status");
            answers.Add(response.StatusCode);
        }
        Assert.Contains(HttpStatusCode.TooManyRequests, answers);
        using var other = await elsewhere.GetAsync("/scheduler/jobs/7004/status");
        Assert.NotEqual(HttpStatusCode.TooManyRequests, other.StatusCode);
    }

    [Fact]
    public async Task Open_streams_are_capped_per_key()
    {
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs("--Gateway:MaxStreamsPerCaller", "1")));
        using var reader = trio.Client(Trio.ReadKey, gateway);
        using var first = await reader.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var second = await reader.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
        await Problems.AssertProblemAsync(second, HttpStatusCode.TooManyRequests);
        using var other = trio.Client(Trio.SubmitKey, gateway);
        using var theirs = await other.GetAsync("/scheduler/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, theirs.StatusCode);
    }

    [Fact]
    public async Task Rate_limit_is_per_key_with_429_and_Retry_After()
    {
        var gateway = await trio.StartAsync(GatewayApp.Create(trio.GatewayArgs(
            "--Gateway:Keys:0:PermitsPerSecond", "1", "--Gateway:Keys:0:Burst", "2")));
        using var reader = trio.Client(Trio.ReadKey, gateway);
        using var other = trio.Client(Trio.SubmitKey, gateway);

        HttpResponseMessage? limited = null;
        for (var i = 0; i < 10 && limited is null; i++)
        {
            var response = await reader.GetAsync("/scheduler/nodes");
            if (response.StatusCode == HttpStatusCode.TooManyRequests)
                limited = response;
            else
                response.Dispose();
        }
        Assert.NotNull(limited);
        using (limited)
        {
            await Problems.AssertProblemAsync(limited, HttpStatusCode.TooManyRequests);
            Assert.True(limited.Headers.RetryAfter?.Delta >= TimeSpan.FromSeconds(1), $"Retry-After: {limited.Headers.RetryAfter}");
        }

        // Another key has its own bucket.
        using var unaffected = await other.GetAsync("/scheduler/nodes");
        Assert.Equal(HttpStatusCode.OK, unaffected.StatusCode);
    }

    [Fact]
    public async Task Without_keys_the_gateway_is_open_on_loopback_and_refuses_other_addresses()
    {
        var open = await trio.StartAsync(GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", trio.SchedulerUrl.ToString(),
            "--Gateway:SchedulerToken", Trio.SchedulerToken]));
        using var anyone = trio.Client(null, open);
        using var response = await anyone.GetAsync("/scheduler/nodes");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var error = Assert.Throws<InvalidOperationException>(() => GatewayApp.Create([
            "--urls", "http://0.0.0.0:0", "--Gateway:SchedulerUrls", trio.SchedulerUrl.ToString()]));
        Assert.Contains("0.0.0.0", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Invalid_options_are_all_reported_at_start()
    {
        var error = Assert.ThrowsAny<Exception>(() => GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", "ftp://nowhere",
            "--Gateway:Keys:0:Name", "k", "--Gateway:Keys:0:Role", "root",
            "--Gateway:MaxRequestBodySize", "0"]));
        Assert.Contains("SchedulerUrls", error.Message, StringComparison.Ordinal);
        Assert.Contains("Keys:0:Role", error.Message, StringComparison.Ordinal);
        Assert.Contains("Key or Sha256", error.Message, StringComparison.Ordinal);
        Assert.Contains("MaxRequestBodySize", error.Message, StringComparison.Ordinal);
    }

    private async Task<(int Status, string? ContentType, string Body)> RawGetAsync(string rawPath, string key)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(trio.GatewayUrl.Host, trio.GatewayUrl.Port);
        await using var stream = tcp.GetStream();
        var request = $"GET {rawPath} HTTP/1.1\r\nHost: {trio.GatewayUrl.Authority}\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var status = int.Parse(text.Split(' ', 3)[1], System.Globalization.CultureInfo.InvariantCulture);
        var head = text[..text.IndexOf("\r\n\r\n", StringComparison.Ordinal)];
        var contentType = head.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Type:", StringComparison.OrdinalIgnoreCase))?
            .Split(':', 2)[1].Split(';')[0].Trim();
        return (status, contentType, text[(head.Length + 4)..]);
    }
}
