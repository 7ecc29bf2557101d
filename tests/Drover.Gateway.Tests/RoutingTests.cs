using System.Net;
using System.Text.Json;

namespace Drover.Gateway.Tests;

[Collection(TrioGroup.Name)]
public sealed class RoutingTests(Trio trio)
{
    [Fact]
    public async Task Scheduler_routes_reach_the_scheduler_with_its_service_token()
    {
        using var admin = trio.Client(Trio.AdminKey);
        var id = await Trio.SubmitAsync(admin, """{"commands": [{"exec": ["echo", "routed"]}]}""");

        using var status = await admin.GetAsync($"/scheduler/jobs/{id}/status");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
        using var nodes = await admin.GetAsync("/scheduler/nodes");
        Assert.Contains(Trio.NodeName, await nodes.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // The caller's key is not the scheduler's token: the gateway swapped it, or the scheduler would refuse.
        using var direct = new HttpClient { BaseAddress = trio.SchedulerUrl };
        direct.DefaultRequestHeaders.Authorization = new("Bearer", Trio.AdminKey);
        using var refused = await direct.GetAsync("/scheduler/nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Fact]
    public async Task Processor_route_reaches_the_local_processor()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var response = await admin.GetAsync("/processor/info");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(Trio.NodeName, JsonDocument.Parse(body).RootElement.GetProperty("name").GetString());

        // The seed's other spelling passes through as well.
        using var list = await admin.GetAsync("/processor/job/status");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
    }

    [Fact]
    public async Task Nodes_route_reaches_the_node_named_and_strips_the_prefix()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var response = await admin.GetAsync($"/nodes/{Trio.NodeName}/processor/info");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(Trio.NodeName, JsonDocument.Parse(body).RootElement.GetProperty("name").GetString());

        using var jobs = await admin.GetAsync($"/nodes/{Trio.NodeName}/processor/jobs/status?request_id=none");
        Assert.Equal(HttpStatusCode.OK, jobs.StatusCode);
        Assert.Empty(JsonDocument.Parse(await jobs.Content.ReadAsStringAsync()).RootElement.GetProperty("jobs").EnumerateArray());
    }

    [Fact]
    public async Task Unknown_node_name_is_a_404_problem()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var response = await admin.GetAsync("/nodes/no-such-node/processor/info");
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Contains("no-such-node", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Health_and_readiness_answer_without_a_key()
    {
        using var anonymous = trio.Client(null);
        using var live = await anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        using var ready = await anonymous.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Equal("ready", JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Swagger_UI_lists_the_scheduler_processor_and_gateway_documents()
    {
        using var anonymous = trio.Client(null);
        using var page = await anonymous.GetAsync("/swagger");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("swagger-ui", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var script = await anonymous.GetAsync("/swagger/index.js");
        var config = await script.Content.ReadAsStringAsync();
        Assert.Contains("/openapi/scheduler.json", config, StringComparison.Ordinal);
        Assert.Contains("/openapi/processor.json", config, StringComparison.Ordinal);
        Assert.Contains("/openapi/v1.json", config, StringComparison.Ordinal);

        using var own = await anonymous.GetAsync("/openapi/v1.json");
        var document = JsonDocument.Parse(await own.Content.ReadAsStringAsync()).RootElement;
        Assert.True(document.GetProperty("paths").TryGetProperty("/nodes/{name}/processor/{rest}", out _));
        Assert.True(document.GetProperty("paths").TryGetProperty("/readyz", out _));
        Assert.Equal("bearer", document.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
    }

    [Theory]
    [InlineData("/openapi/scheduler.json",
        "/scheduler/jobs/new", "/scheduler/jobs", "/scheduler/jobs/{id}", "/scheduler/jobs/{id}/status",
        "/scheduler/jobs/{id}/update", "/scheduler/jobs/{id}/kill", "/scheduler/jobs/{id}/log",
        "/scheduler/jobs/{id}/dag", "/scheduler/events", "/scheduler/dags/new", "/scheduler/jobs/{id}/retry",
        "/scheduler/queue", "/scheduler/queue/{id}", "/scheduler/nodes", "/scheduler/nodes/available")]
    [InlineData("/openapi/processor.json",
        "/processor/jobs/new", "/processor/jobs/status", "/processor/jobs/{request_id}/status",
        "/processor/jobs/{request_id}/log", "/processor/jobs/{request_id}/kill", "/processor/info")]
    public async Task Proxied_OpenAPI_documents_list_every_endpoint_of_the_architecture(string document, params string[] paths)
    {
        using var anonymous = trio.Client(null);
        using var response = await anonymous.GetAsync(document);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, body);
        var root = JsonDocument.Parse(body).RootElement;
        var listed = root.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.All(paths, path => Assert.Contains(path, listed));

        // The gateway adds the bearer scheme it enforces, so Swagger UI offers "Authorize" for an API key.
        Assert.Equal("bearer", root.GetProperty("components").GetProperty("securitySchemes").GetProperty("bearer").GetProperty("scheme").GetString());
        Assert.True(root.GetProperty("security")[0].TryGetProperty("bearer", out _));

        // The document names the gateway as its server, so "Try it out" comes back through the front door.
        var servers = root.GetProperty("servers").EnumerateArray().ToList();
        Assert.NotEmpty(servers);
        Assert.All(servers, s => Assert.StartsWith(trio.GatewayUrl.GetLeftPart(UriPartial.Authority), s.GetProperty("url").GetString(), StringComparison.Ordinal));
    }
}
