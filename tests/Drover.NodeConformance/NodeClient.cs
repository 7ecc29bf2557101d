using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Drover.NodeConformance;

/// <summary>
/// The node protocol as the suite speaks it: raw HTTP and raw JSON, so that what is checked is the wire itself
/// (snake_case keys, string enums, problem+json), not what a C# type happens to accept.
/// </summary>
public sealed partial class NodeClient : IDisposable
{
    private readonly HttpClient _http;

    private NodeClient(HttpClient http) => _http = http;

    public static NodeClient Create(NodeUnderTest node, bool withToken = true)
    {
        ArgumentNullException.ThrowIfNull(node);
        var http = new HttpClient { BaseAddress = node.BaseUri, Timeout = TimeSpan.FromSeconds(60) };
        if (withToken && node.Token is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", node.Token);
        return new NodeClient(http);
    }

    public HttpClient Http => _http;

    /// <summary>A path relative to the node's URL: "processor/jobs/new", never "/processor/..." (the node's URL may have a path).</summary>
    public static Uri Path(string relative) => new(relative.TrimStart('/'), UriKind.Relative);

    public Task<HttpResponseMessage> GetAsync(string path) => _http.GetAsync(Path(path));

    public Task<HttpResponseMessage> PostAsync(string path, HttpContent? content = null) => _http.PostAsync(Path(path), content);

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json) =>
        _http.PostAsync(Path(path), new StringContent(json, Encoding.UTF8, "application/json"));

    public static async Task<JsonObject> ReadObjectAsync(HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        var text = await response.Content.ReadAsStringAsync();
        return JsonNode.Parse(text) as JsonObject ?? throw new InvalidOperationException($"not a JSON object: {text}");
    }

    /// <summary>Posts a job, expects 201 Created, and returns its status document.</summary>
    public async Task<JsonObject> SubmitAsync(string json, string spelling = "jobs")
    {
        using var response = await PostJsonAsync($"processor/{spelling}/new", json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, $"expected 201 Created, got {(int)response.StatusCode}: {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>Posts a job built from the given parts and returns its request id.</summary>
    public async Task<string> RunAsync(object spec)
    {
        var status = await SubmitAsync(JsonSerializer.Serialize(spec));
        return (string)status["request_id"]!;
    }

    public async Task<JsonObject> StatusAsync(string id, string spelling = "jobs")
    {
        using var response = await GetAsync($"processor/{spelling}/{Uri.EscapeDataString(id)}/status");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"status of {id}: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    /// <summary>Waits (generously: the machine may be loaded) until the job's status satisfies the condition.</summary>
    public async Task<JsonObject> WaitForAsync(string id, Func<JsonObject, bool> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var status = await StatusAsync(id);
            if (condition(status))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {id} did not get there in {seconds} s: {status.ToJsonString()}");
            await Task.Delay(50);
        }
    }

    public Task<JsonObject> WaitStoppedAsync(string id, int seconds = 30) => WaitForAsync(id, s => State(s) == "stopped", seconds);

    public Task<JsonObject> WaitRunningAsync(string id, int seconds = 30) => WaitForAsync(id, s => State(s) == "running", seconds);

    public async Task<string> LogAsync(string id, string query = "")
    {
        using var response = await GetAsync($"processor/jobs/{id}/log{query}");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"log of {id}: {(int)response.StatusCode} {body}");
        return body;
    }

    public async Task<JsonObject> KillAsync(string id, string spelling = "jobs")
    {
        using var response = await PostAsync($"processor/{spelling}/{id}/kill");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"kill of {id}: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    public async Task<JsonObject> InfoAsync()
    {
        using var response = await GetAsync("processor/info");
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"info: {(int)response.StatusCode} {body}");
        return (JsonObject)JsonNode.Parse(body)!;
    }

    public async Task<IReadOnlyList<JsonObject>> ListAsync(string query = "")
    {
        using var response = await GetAsync("processor/jobs/status" + query);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"list: {(int)response.StatusCode} {body}");
        var jobs = JsonNode.Parse(body)!["jobs"] as JsonArray ?? throw new InvalidOperationException($"no \"jobs\" array: {body}");
        return jobs.Select(j => (JsonObject)j!).ToList();
    }

    public async Task KillAllRunningAsync()
    {
        try
        {
            foreach (var job in await ListAsync())
            {
                if (State(job) != "stopped")
                    (await PostAsync($"processor/jobs/{(string)job["request_id"]!}/kill")).Dispose();
            }
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or Xunit.Sdk.XunitException)
        {
            // Clean-up at the end of a class: a node that is already gone has nothing left to kill.
        }
    }

    public static string State(JsonObject status) => (string)status["state"]!;

    public static string Status(JsonObject status) => (string)status["status"]!;

    public void Dispose() => _http.Dispose();

    /// <summary>A request id or file name as docs/node-protocol.md allows it.</summary>
    [GeneratedRegex("^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
    public static partial Regex SafeName();
}
