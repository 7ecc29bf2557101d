using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Bench;

/// <summary>The few scheduler calls the benchmark makes, over one pooled connection set per base URL.</summary>
internal sealed class Api : IDisposable
{
    private readonly HttpClient _http;

    public Api(string baseUrl, string? token = null)
    {
        _http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256, PooledConnectionLifetime = TimeSpan.FromMinutes(10) })
        {
            BaseAddress = new Uri(baseUrl),
            Timeout = TimeSpan.FromSeconds(60),
        };
        if (token is not null)
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
    }

    private static readonly string[] True = ["/bin/true"];

    public static string TrueJob(string? requestId = null, object? constraints = null) =>
        Json(new { commands = new[] { new { exec = True } }, request_id = requestId, constraints });

    public static string Json(object body) => JsonSerializer.Serialize(body, DroverJson.Options);

    public async Task<long> SubmitAsync(string json, CancellationToken cancel = default)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync("/scheduler/jobs/new", content, cancel);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"submit answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancel)}");
        var answer = await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options, cancel);
        return answer!.JobId;
    }

    /// <summary>Submits <c>{"jobs": [...]}</c> to the batch call and expects 202; returns how many jobs it answered for.</summary>
    public async Task<int> SubmitBatchAsync(string json, CancellationToken cancel = default)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync("/scheduler/jobs/batch", content, cancel);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"batch submit answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(cancel)}");
        var answer = await response.Content.ReadFromJsonAsync<BatchAnswer>(DroverJson.Options, cancel);
        return answer!.Jobs.Count;
    }

    public async Task<JobStatusView> StatusAsync(long id, CancellationToken cancel = default) =>
        (await _http.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options, cancel))!;

    /// <summary>Ids of jobs after <paramref name="afterId"/> matching the filter (<c>Accept: text/plain</c>, as the seed lists them).</summary>
    public async Task<int> CountAsync(string filter, long afterId, int limit = 10_000, CancellationToken cancel = default)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/scheduler/jobs?{filter}&after={afterId}&limit={limit}");
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/plain"));
        using var response = await _http.SendAsync(request, cancel);
        response.EnsureSuccessStatusCode();
        var text = await response.Content.ReadAsStringAsync(cancel);
        return text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
    }

    public async Task<int> CountNodesAsync(CancellationToken cancel = default)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync("/scheduler/nodes/available", cancel));
        return doc.RootElement.GetProperty("nodes").GetArrayLength();
    }

    public async Task<IReadOnlyList<string>> NodeNamesAsync(CancellationToken cancel = default)
    {
        using var doc = JsonDocument.Parse(await _http.GetStringAsync("/scheduler/nodes", cancel));
        return [.. doc.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("name").GetString()!)];
    }

    /// <summary>Drains every node (no job is placed) or undrains them all.</summary>
    public async Task SetAllDrainedAsync(bool drained, CancellationToken cancel = default)
    {
        foreach (var name in await NodeNamesAsync(cancel))
        {
            using var response = await _http.PostAsync($"/scheduler/nodes/{Uri.EscapeDataString(name)}/{(drained ? "drain" : "undrain")}", null, cancel);
            response.EnsureSuccessStatusCode();
        }
    }

    public Task<HttpResponseMessage> GetAsync(string path, CancellationToken cancel = default) => _http.GetAsync(path, cancel);

    /// <summary>Waits until no job after <paramref name="afterId"/> is queued, placed or running.</summary>
    public async Task WaitAllStoppedAsync(long afterId, TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            var open = 0;
            foreach (var state in new[] { "queued", "placed", "running" })
                open += await CountAsync($"state={state}", afterId, limit: 1);
            if (open == 0)
                return;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"jobs after {afterId} did not all stop within {limit}");
            await Task.Delay(20);
        }
    }

    public void Dispose() => _http.Dispose();
}
