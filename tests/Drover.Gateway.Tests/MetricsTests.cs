using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Drover.Processor;

namespace Drover.Gateway.Tests;

/// <summary>Metrics and traces across the real trio: its own instance, so that its counters are this class's alone.</summary>
public sealed class MetricsTests(Trio trio) : IClassFixture<Trio>
{
    [Fact]
    public async Task Every_service_serves_prometheus_text_to_those_who_may_call_it()
    {
        using var scheduler = new HttpClient { BaseAddress = trio.SchedulerUrl };
        using (var refused = await scheduler.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        scheduler.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Trio.SchedulerToken);
        foreach (var path in (string[])["/metrics", "/scheduler/metrics"])
            Assert.Contains("# TYPE drover_queue_depth gauge", await TextAsync(scheduler, path), StringComparison.Ordinal);

        using var processor = new HttpClient { BaseAddress = trio.ProcessorUrl };
        using (var refused = await processor.GetAsync("/processor/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        processor.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Trio.ProcessorToken);
        Assert.Contains("drover_processor_slots", await TextAsync(processor, "/processor/metrics"), StringComparison.Ordinal);

        // Through the gateway a read key reaches all three; without a key nothing does.
        using var anonymous = trio.Client(null);
        using (var refused = await anonymous.GetAsync("/metrics"))
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        using var reader = trio.Client(Trio.ReadKey);
        Assert.Contains("http_server_request_duration_seconds", await TextAsync(reader, "/metrics"), StringComparison.Ordinal);
        Assert.Contains("drover_queue_depth", await TextAsync(reader, "/scheduler/metrics"), StringComparison.Ordinal);
        Assert.Contains("drover_processor_slots_in_use", await TextAsync(reader, "/processor/metrics"), StringComparison.Ordinal);
        Assert.Contains("drover_processor_slots", await TextAsync(reader, $"/nodes/{Trio.NodeName}/processor/metrics"), StringComparison.Ordinal);
        // Services in one process (as here, and in `drover dev`) each show their own HTTP metrics only.
        using var submitter = trio.Client(Trio.SubmitKey);
        await Trio.SubmitAsync(submitter, """{"commands": [{"exec": ["true"]}]}""");
        const string route = "http_route=\"/scheduler/jobs/new\"";
        // The exporter may answer a scrape from its short cache of the last one: ask again until the new route shows.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var text = await TextAsync(scheduler, "/metrics");
        while (!text.Contains(route, StringComparison.Ordinal) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(200);
            text = await TextAsync(scheduler, "/metrics");
        }
        Assert.Contains(route, text, StringComparison.Ordinal);
        Assert.DoesNotContain(route, await TextAsync(reader, "/metrics"), StringComparison.Ordinal);
        Assert.DoesNotContain(route, await TextAsync(processor, "/metrics"), StringComparison.Ordinal);

        // A read key still reads no more than before: the Processor's jobs stay an admin's.
        using (var refused = await reader.GetAsync("/processor/jobs/status"))
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
    }

    [Fact]
    public async Task Prometheus_scrapes_every_service_and_counts_a_submitted_job()
    {
        var gateway = $"{trio.GatewayUrl.Host}:{trio.GatewayUrl.Port}";
        await using var prometheus = await Prometheus.StartAsync([
            new("gateway", gateway, "/metrics", Trio.ReadKey),
            new("scheduler", $"{trio.SchedulerUrl.Host}:{trio.SchedulerUrl.Port}", "/metrics", Trio.SchedulerToken),
            new("processor", gateway, "/processor/metrics", Trio.ReadKey),
        ]);

        var up = await prometheus.WaitForAsync("up", r => r.Count == 3 && r.All(s => s.Value == 1));
        Assert.Equal(["gateway", "processor", "scheduler"], up.Select(s => s.Labels["job"]).Order(StringComparer.Ordinal));

        using var submitter = trio.Client(Trio.SubmitKey);
        var id = await Trio.SubmitAsync(submitter, """{"commands": [{"exec": ["echo", "counted"]}]}""");
        await Trio.WaitForStateAsync(submitter, id, "stopped");

        await prometheus.WaitForAsync("sum(drover_jobs_submitted_total)", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync("sum(drover_placements_total)", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync("""drover_jobs{state="stopped",status="good"}""", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync("sum(drover_job_start_latency_seconds_count)", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync("""sum(drover_attempts_ended_total{status="good"})""", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync("""sum(drover_processor_jobs_ended_total{status="good"})""", r => r is [{ Value: >= 1 }]);
        await prometheus.WaitForAsync($$"""drover_node_up{node="{{Trio.NodeName}}"}""", r => r is [{ Value: 1 }]);
        await prometheus.WaitForAsync("drover_queue_depth", r => r is [{ Value: 0 }]);
        // The HTTP server's own metrics, here the gateway's answers to the submission.
        await prometheus.WaitForAsync(
            """sum(http_server_request_duration_seconds_count{job="gateway",http_request_method="POST",http_response_status_code="202"})""",
            r => r is [{ Value: >= 1 }]);
    }

    [Fact]
    public async Task A_job_continues_the_trace_of_its_submission_on_its_node_and_in_its_record()
    {
        // A second node of its own, logging JSON to a file, registered with the trio's scheduler by heartbeat.
        var log = Path.Combine(trio.Root, "traced.log");
        var node = ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:Name", "traced",
            "--Processor:StateDirectory", Path.Combine(trio.Root, "traced"),
            "--Processor:Token", Trio.ProcessorToken,
            "--Processor:SchedulerUrl", trio.SchedulerUrl.ToString(),
            "--Processor:SchedulerToken", Trio.SchedulerToken,
            "--Processor:HeartbeatInterval", "00:00:00.500",
            "--Serilog:Using:0", "Serilog.Sinks.File",
            "--Serilog:WriteTo:0:Name", "File",
            "--Serilog:WriteTo:0:Args:path", log,
            "--Serilog:WriteTo:0:Args:formatter", "Serilog.Formatting.Compact.CompactJsonFormatter, Serilog.Formatting.Compact"]);
        await trio.StartAsync(node);

        var traceId = Convert.ToHexStringLower(Guid.NewGuid().ToByteArray());
        using var submitter = trio.Client(Trio.SubmitKey);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/scheduler/jobs/new")
        {
            Content = new StringContent("""{"commands": [{"exec": ["echo", "traced"]}], "constraints": {"node": "traced"}}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("traceparent", $"00-{traceId}-{Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()[..8])}-01");
        using var response = await submitter.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        var id = JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
        var status = await Trio.WaitForStateAsync(submitter, id, "stopped");
        Assert.Equal("traced", status.GetProperty("node").GetString());

        using var record = JsonDocument.Parse(await submitter.GetStringAsync($"/scheduler/jobs/{id}"));
        Assert.Equal(traceId, record.RootElement.GetProperty("trace_id").GetString());

        // The node logged the job's end under the same trace: the start it was sent carried the job's traceparent.
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var lines = await ReadSharedAsync(log);
            var stopped = lines.Select(l => JsonDocument.Parse(l).RootElement)
                .Where(e => e.TryGetProperty("RequestId", out var r) && r.GetString()!.StartsWith($"{id}-1-", StringComparison.Ordinal) && e.GetProperty("@mt").GetString()!.Contains("stopped", StringComparison.Ordinal))
                .ToList();
            if (stopped.Count > 0)
            {
                Assert.Equal(traceId, stopped[0].GetProperty("@tr").GetString());
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"no line of the node's log says job {id}-1-<incarnation> stopped:\n{string.Join('\n', lines)}");
            await Task.Delay(200);
        }
    }

    private static async Task<string> TextAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode}: {body}");
        Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        return body;
    }

    private static async Task<List<string>> ReadSharedAsync(string path)
    {
        if (!File.Exists(path))
            return [];
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        using var reader = new StreamReader(stream);
        var text = await reader.ReadToEndAsync();
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
    }
}
