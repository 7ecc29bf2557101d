using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.ServerSentEvents;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Drover.Cli.Terminal;
using Drover.Contracts;

namespace Drover.Cli.Client;

/// <summary>
/// The scheduler's API as the CLI calls it (through the gateway or straight), in the contract types. A refused call
/// throws <see cref="ApiProblem"/>; a call that gets no answer throws <see cref="HttpRequestException"/>.
/// </summary>
internal sealed class DroverApi(HttpClient http) : IDisposable
{
    /// <summary>A plain call that takes longer than this has gone wrong; streams have no limit.</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    public Uri BaseAddress => http.BaseAddress!;

    public static DroverApi Create(string? url, string? token) => new(DroverClient.Create(url, token));

    public Task<SubmitAnswer> SubmitAsync(JobSpec spec, IReadOnlyList<FileInfo> files, CancellationToken cancellationToken)
    {
        var json = JsonSerializer.Serialize(spec, DroverJson.Options);
        if (files.Count == 0)
            return SendAsync<SubmitAnswer>(HttpMethod.Post, "scheduler/jobs/new", new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);
        // With files the job goes as multipart: its spec as one JSON part, each file as a part of its own name.
        var form = new MultipartFormDataContent { { new StringContent(json, Encoding.UTF8, "application/json"), "spec" } };
        foreach (var file in files)
        {
            var part = new StreamContent(file.OpenRead());
            part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
            form.Add(part, "file", file.Name);
        }
        return SendAsync<SubmitAnswer>(HttpMethod.Post, "scheduler/jobs/new", form, cancellationToken, CallTimeout * 10);
    }

    /// <summary>Sends a DAG request as the user wrote it: the scheduler checks it and names what is wrong.</summary>
    public Task<DagAnswer> SubmitDagAsync(string json, CancellationToken cancellationToken) =>
        SendAsync<DagAnswer>(HttpMethod.Post, "scheduler/dags/new", new StringContent(json, Encoding.UTF8, "application/json"), cancellationToken);

    public Task<JobPage> ListJobsAsync(JobListQuery query, long after, int limit, CancellationToken cancellationToken)
    {
        var path = new StringBuilder("scheduler/jobs?")
            .Append(CultureInfo.InvariantCulture, $"after={after}&limit={limit}");
        if (query.State is { } state)
            path.Append("&state=").Append(Words.Of(state));
        if (query.Status is { } status)
            path.Append("&status=").Append(Words.Of(status));
        if (query.Node is { } node)
            path.Append("&node=").Append(Uri.EscapeDataString(node));
        if (query.Parent is { } parent)
            path.Append(CultureInfo.InvariantCulture, $"&parent={parent}");
        return SendAsync<JobPage>(HttpMethod.Get, path.ToString(), null, cancellationToken);
    }

    public Task<JobRecord> GetJobAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<JobRecord>(HttpMethod.Get, Job(id), null, cancellationToken);

    public Task<JobStatusView> GetStatusAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<JobStatusView>(HttpMethod.Get, Job(id) + "/status", null, cancellationToken);

    /// <summary>Asks the job's node now rather than at the next poll.</summary>
    public Task<JobStatusView> RefreshAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<JobStatusView>(HttpMethod.Post, Job(id) + "/update", null, cancellationToken);

    public Task<QueueEntry> GetQueueEntryAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<QueueEntry>(HttpMethod.Get, string.Create(CultureInfo.InvariantCulture, $"scheduler/queue/{id}"), null, cancellationToken);

    /// <summary>Removes a job that is still queued (it stops as <c>cancelled</c>).</summary>
    public Task<QueueEntry> CancelAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<QueueEntry>(HttpMethod.Delete, string.Create(CultureInfo.InvariantCulture, $"scheduler/queue/{id}"), null, cancellationToken);

    public Task<JobStatusView> KillAsync(long id, bool descendants, CancellationToken cancellationToken) =>
        SendAsync<JobStatusView>(HttpMethod.Post, Job(id) + "/kill" + (descendants ? "?descendants=true" : ""), null, cancellationToken);

    public Task<RetryAnswer> RetryAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<RetryAnswer>(HttpMethod.Post, Job(id) + "/retry", null, cancellationToken);

    public Task<DagView> GetDagAsync(long id, CancellationToken cancellationToken) =>
        SendAsync<DagView>(HttpMethod.Get, Job(id) + "/dag", null, cancellationToken);

    public Task<QueueList> GetQueueAsync(CancellationToken cancellationToken) =>
        SendAsync<QueueList>(HttpMethod.Get, "scheduler/queue?limit=10000", null, cancellationToken);

    public Task<NodeViewList> GetNodesAsync(bool availableOnly, CancellationToken cancellationToken) =>
        SendAsync<NodeViewList>(HttpMethod.Get, availableOnly ? "scheduler/nodes/available" : "scheduler/nodes", null, cancellationToken);

    public Task<NodeView> SetDrainedAsync(string node, bool drained, CancellationToken cancellationToken) =>
        SendAsync<NodeView>(HttpMethod.Post, $"scheduler/nodes/{Uri.EscapeDataString(node)}/{(drained ? "drain" : "undrain")}", null, cancellationToken);

    /// <summary>
    /// The job's log from byte <paramref name="offset"/>, its body still to be read; with <paramref name="follow"/>
    /// the body runs until the attempt stops.
    /// </summary>
    public Task<HttpResponseMessage> OpenLogAsync(long id, long offset, bool follow, CancellationToken cancellationToken) =>
        OpenAsync(Job(id) + string.Create(CultureInfo.InvariantCulture, $"/log?offset={offset}") + (follow ? "&follow=true" : ""), "text/plain", cancellationToken);

    /// <summary>
    /// The scheduler's events after <paramref name="after"/> (or, unfiltered, from now on) for as long as the stream
    /// lasts: <see cref="JobEvent"/> and <see cref="NodeEvent"/>, in order.
    /// </summary>
    public async IAsyncEnumerable<object> EventsAsync(long? job, long? root, long? after, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var query = new List<string>();
        if (job is { } j)
            query.Add(string.Create(CultureInfo.InvariantCulture, $"job={j}"));
        if (root is { } r)
            query.Add(string.Create(CultureInfo.InvariantCulture, $"root={r}"));
        if (after is { } a)
            query.Add(string.Create(CultureInfo.InvariantCulture, $"last_event_id={a}"));
        using var response = await OpenAsync("scheduler/events" + (query.Count > 0 ? "?" + string.Join('&', query) : ""), "text/event-stream", cancellationToken);
        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
        await foreach (var item in SseParser.Create(stream).EnumerateAsync(cancellationToken))
        {
            object? change = item.EventType == "node"
                ? JsonSerializer.Deserialize<NodeEvent>(item.Data, DroverJson.Options)
                : item.EventType == "job" ? JsonSerializer.Deserialize<JobEvent>(item.Data, DroverJson.Options) : null;
            if (change is not null)
                yield return change;
        }
    }

    private async Task<HttpResponseMessage> OpenAsync(string path, string accept, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
                throw await ApiProblem.ReadAsync(response, cancellationToken);
        }
        return response;
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, TimeSpan? timeout = null)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(timeout ?? CallTimeout);
        using var request = new HttpRequestMessage(method, path) { Content = content };
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        try
        {
            using var response = await http.SendAsync(request, limit.Token);
            if (!response.IsSuccessStatusCode)
                throw await ApiProblem.ReadAsync(response, limit.Token);
            return await response.Content.ReadFromJsonAsync<T>(DroverJson.Options, limit.Token)
                ?? throw new HttpRequestException($"{method} /{path} answered JSON null");
        }
        catch (OperationCanceledException) when (limit.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new HttpRequestException($"{method} /{path} got no answer within {(timeout ?? CallTimeout).TotalSeconds:0} s");
        }
    }

    private static string Job(long id) => string.Create(CultureInfo.InvariantCulture, $"scheduler/jobs/{id}");

    public void Dispose() => http.Dispose();
}

/// <summary>The filters of <c>GET /scheduler/jobs</c>.</summary>
internal sealed record JobListQuery(JobState? State, JobStatus? Status, string? Node, long? Parent);
