using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Drover.Scheduler.Nodes;

/// <summary>
/// Speaks the node protocol (docs/node-protocol.md) to Processors and any other program that answers it. With a node
/// that announces <c>batch_start</c>, starts that arrive for it while one call to it is in flight are sent together
/// as one array call (each keeps its own outcome); with <c>batch_status</c>, the poll sends its ids in a POST body.
/// </summary>
internal sealed class ProcessorNodeBackend(IHttpClientFactory clients, TimeProvider time) : INodeBackend, IDisposable
{
    public const string Client = "drover-node";
    public const string StreamClient = "drover-node-stream";

    /// <summary>How long a node's announced features are trusted before /processor/info is asked again (a node may be replaced by another build).</summary>
    private static readonly TimeSpan FeaturesFresh = TimeSpan.FromMinutes(1);

    /// <summary>How long a node whose info could not be read is spoken to without optional features before it is asked again.</summary>
    private static readonly TimeSpan FeaturesRetry = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, FeatureSet> _features = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, StartQueue> _starts = new(StringComparer.Ordinal);

    // Batched starts are sent by a loop of their own, not by any one caller: it stops with the scheduler.
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>
    /// Every call to a node is idempotent (reads; a start carries its request id, which the node deduplicates; a kill
    /// of a stopped job changes nothing), so all may be retried. 429 is not retried: the job goes to another node.
    /// The circuit breaker is kept per node (pipelines selected by authority), so one dead node does not cut off others.
    /// </summary>
    public static void AddClients(IServiceCollection services)
    {
        // No per-request log scope and log lines (the factory's default): a placement pass makes hundreds of calls,
        // and failures are logged where they are handled, with the job and node they concern.
        var client = services.AddHttpClient(Client, c => c.Timeout = Timeout.InfiniteTimeSpan).RemoveAllLoggers();
        client.AddResilienceHandler("node", (pipeline, context) =>
            {
                var options = context.ServiceProvider.GetRequiredService<IOptions<SchedulerOptions>>().Value;
                var total = options.NodeCallTimeout;
                static bool Transient(Outcome<HttpResponseMessage> outcome) => outcome switch
                {
                    { Exception: HttpRequestException or TimeoutRejectedException } => true,
                    { Result: { } response } => (int)response.StatusCode >= 500,
                    _ => false,
                };
                pipeline.AddTimeout(total);
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = 2,
                    Delay = TimeSpan.FromMilliseconds(100),
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome)),
                });
                pipeline.AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = 0.8,
                    MinimumThroughput = 6,
                    SamplingDuration = TimeSpan.FromSeconds(Math.Max(1, options.HeartbeatTimeout.TotalSeconds)),
                    BreakDuration = options.NodeBackoff < TimeSpan.FromMilliseconds(500) ? TimeSpan.FromMilliseconds(500) : options.NodeBackoff,
                    ShouldHandle = args => ValueTask.FromResult(Transient(args.Outcome)),
                });
                pipeline.AddTimeout(total / 3);
            })
            .SelectPipelineByAuthority();
        client.AddHttpMessageHandler(() => new TryCounter());

        // Log streams live as long as the job; only connecting is bounded.
        services.AddHttpClient(StreamClient, c => c.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(services =>
                new SocketsHttpHandler { ConnectTimeout = services.GetRequiredService<IOptions<SchedulerOptions>>().Value.NodeCallTimeout });
    }

    public async Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken)
    {
        using var response = await CallAsync(node, HttpMethod.Get, "processor/info", cancellationToken);
        await EnsureOkAsync(node, response, cancellationToken);
        var info = await ReadAsync<NodeInfo>(node, response, cancellationToken)
            ?? throw new NodeUnreachableException($"node {node.Name} sent no info");
        FeaturesOf(node).Learned(info.Features, time.GetUtcNow());
        return info;
    }

    public async Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        // Uploads stay single calls: a multipart body per job, and never many jobs' files held in memory at once.
        if (files.Count > 0 || !await HasFeatureAsync(node, NodeFeatures.BatchStart, cancellationToken))
            return await StartOneAsync(node, request, files, cancellationToken);
        var pending = new PendingStart(request, cancellationToken);
        var queue = _starts.GetOrAdd(Key(node), _ => new StartQueue());
        bool send;
        lock (queue.Gate)
        {
            queue.Pending.Enqueue(pending);
            send = !queue.Sending;
            queue.Sending = true;
        }
        if (send)
            _ = Task.Run(() => SendStartsAsync(node, queue), CancellationToken.None);
        return await pending.Result.Task.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Sends what has queued up for one node, a batch at a time, until nothing is left: the first start goes alone at
    /// once, and those that arrive while a call is in flight go together in the next (so batching never waits on a
    /// timer, and a node that is slow to answer gets bigger batches rather than more connections).
    /// </summary>
    private async Task SendStartsAsync(NodeTarget node, StartQueue queue)
    {
        while (true)
        {
            var batch = new List<PendingStart>();
            lock (queue.Gate)
            {
                while (batch.Count < NodeBatchLimits.MaxStartBatch && queue.Pending.TryDequeue(out var next))
                {
                    // A caller that gave up before its start went out: never send it.
                    if (next.Cancel.IsCancellationRequested)
                        next.Result.TrySetCanceled(next.Cancel);
                    else
                        batch.Add(next);
                }
                if (batch.Count == 0)
                {
                    queue.Sending = false;
                    return;
                }
            }
            try
            {
                var results = batch.Count == 1
                    ? [await StartOneAsync(node, batch[0].Request, [], _stopping.Token)]
                    : await StartBatchAsync(node, [.. batch.Select(p => p.Request)], _stopping.Token);
                for (var i = 0; i < batch.Count; i++)
                    batch[i].Result.TrySetResult(results[i]);
            }
            catch (Exception e)
            {
                foreach (var pending in batch)
                    pending.Result.TrySetException(e);
            }
        }
    }

    /// <summary>
    /// One call for many starts: each item's answer is the status the node would have given it alone, and it comes to
    /// the same outcome as that would. A failed call fails each of its starts as it would have failed one.
    /// </summary>
    private async Task<StartResult[]> StartBatchAsync(NodeTarget node, IReadOnlyList<NodeJobRequest> requests, CancellationToken cancellationToken)
    {
        var tries = new StrongBox<int>();
        using var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(requests, DroverJson.Options));
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        try
        {
            using var response = await SendAsync(node, HttpMethod.Post, "processor/jobs/new", content, cancellationToken, tries);
            if (response.StatusCode is HttpStatusCode.OK)
            {
                NodeStartAnswer[]? answers;
                try
                {
                    answers = await ReadAsync<NodeStartAnswer[]>(node, response, cancellationToken);
                }
                catch (NodeUnreachableException e)
                {
                    // Recorded, some or all, but what it said cannot be read: the poll asks again.
                    return [.. requests.Select(_ => new StartResult(StartOutcome.Unknown, Detail: e.Message))];
                }
                if (answers is null || answers.Length != requests.Count)
                {
                    var detail = $"node {node.Name} answered {answers?.Length ?? 0} items to a batch of {requests.Count}";
                    return [.. requests.Select(_ => new StartResult(StartOutcome.Unknown, Detail: detail))];
                }
                return [.. answers.Select(a => a is null
                    ? new StartResult(StartOutcome.Unknown, Detail: $"node {node.Name} answered null for a job of the batch")
                    : Outcome((HttpStatusCode)a.Status, a.Job, $"{a.Status}: {Truncate(JsonSerializer.Serialize(a.Problem, DroverJson.Options))}", tries.Value))];
            }
            if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed or HttpStatusCode.UnsupportedMediaType)
            {
                // The node does not take arrays after all (another build behind the same address): forget what it
                // announced and send each start alone. Safe even if part of it was recorded: starts are idempotent.
                FeaturesOf(node).Forget();
                var singles = new StartResult[requests.Count];
                for (var i = 0; i < requests.Count; i++)
                    singles[i] = await StartOneAsync(node, requests[i], [], cancellationToken);
                return singles;
            }
            var failure = $"{(int)response.StatusCode}: {await ReadDetailAsync(response, cancellationToken)}";
            var outcome = Outcome(response.StatusCode, null, failure, tries.Value);
            return [.. requests.Select(_ => outcome)];
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException)
        {
            var outcome = Failed(e, tries.Value);
            return [.. requests.Select(_ => outcome)];
        }
    }

    private async Task<StartResult> StartOneAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        HttpContent content;
        var json = JsonSerializer.Serialize(request, DroverJson.Options);
        if (files.Count == 0)
        {
            content = new StringContent(json, Encoding.UTF8, "application/json");
        }
        else
        {
            // Bytes, not streams: a retried start must be able to send the same body again.
            var form = new MultipartFormDataContent { { new StringContent(json, Encoding.UTF8, "application/json"), "spec" } };
            foreach (var path in files)
            {
                byte[] bytes;
                try
                {
                    bytes = await File.ReadAllBytesAsync(path, cancellationToken);
                }
                catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or UnauthorizedAccessException)
                {
                    // This job's own fault (its upload is gone), never the batch's: it fails alone, as placement_failed.
                    form.Dispose();
                    return new StartResult(StartOutcome.Rejected, Detail: $"the uploaded file {Path.GetFileName(path)} is missing: {e.Message}");
                }
                var part = new ByteArrayContent(bytes);
                part.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
                form.Add(part, "file", Path.GetFileName(path));
            }
            content = form;
        }

        // A "nothing was recorded" answer (429, a refused connection, an open circuit) speaks for the try that got it
        // only: when an earlier try of the same start went out and failed (a timeout, a 5xx), that one may have been
        // recorded and run, so the start's fate is unknown and the follower asks the node, rather than the job going to
        // another node under the same attempt.
        var tries = new StrongBox<int>();
        try
        {
            using var response = await SendAsync(node, HttpMethod.Post, "processor/jobs/new", content, cancellationToken, tries);
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK)
            {
                try
                {
                    return new StartResult(StartOutcome.Started, await ReadAsync<NodeJobStatus>(node, response, cancellationToken));
                }
                catch (NodeUnreachableException e)
                {
                    // Recorded, but what it said cannot be read: the poll asks again.
                    return new StartResult(StartOutcome.Unknown, Detail: e.Message);
                }
            }
            return Outcome(response.StatusCode, null, $"{(int)response.StatusCode}: {await ReadDetailAsync(response, cancellationToken)}", tries.Value);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException)
        {
            return Failed(e, tries.Value);
        }
        finally
        {
            content.Dispose();
        }
    }

    /// <summary>What a node's answer to one start means, whether it came alone or as an item of a batch.</summary>
    private static StartResult Outcome(HttpStatusCode status, NodeJobStatus? job, string detail, int tries)
    {
        if (status is HttpStatusCode.Created or HttpStatusCode.OK)
            return job is null ? new StartResult(StartOutcome.Unknown, Detail: "the node recorded the job but sent no status") : new StartResult(StartOutcome.Started, job);
        if (tries > 1 && (int)status < 500)
            return new StartResult(StartOutcome.Unknown, Detail: $"{detail} (after {tries - 1} tries that may have been recorded)");
        return status switch
        {
            // 507: the node's disk is full and it recorded nothing, as with a full node.
            HttpStatusCode.TooManyRequests or HttpStatusCode.InsufficientStorage => new StartResult(StartOutcome.Busy, Detail: detail),
            HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new StartResult(StartOutcome.NotDelivered, Detail: detail),
            >= HttpStatusCode.InternalServerError => new StartResult(StartOutcome.Unknown, Detail: detail),
            _ => new StartResult(StartOutcome.Rejected, Detail: detail),
        };
    }

    /// <summary>A start whose call failed: certainly not delivered only when no try of it can have reached the node.</summary>
    private static StartResult Failed(Exception e, int tries)
    {
        var certain = tries == 0 || (tries == 1 && NeverSent(e) && e is not BrokenCircuitException);
        return new StartResult(certain ? StartOutcome.NotDelivered : StartOutcome.Unknown, Detail: e.Message);
    }

    /// <summary>
    /// With <c>batch_status</c>, the ids go in a POST body, up to <see cref="NodeBatchLimits.MaxStatusQuery"/> a call.
    /// Otherwise it asks in pages of <see cref="StatusPage"/> ids: every id goes into the URL, and one URL for all of
    /// a busy node's attempts would outgrow what servers accept in a request line (Kestrel's 8 KiB, past ~400 ids).
    /// </summary>
    public async Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<NodeAttempt> attempts, CancellationToken cancellationToken)
    {
        var requestIds = attempts.Select(a => a.RequestId).ToList();
        var statuses = new List<NodeJobStatus>(requestIds.Count);
        var asked = requestIds.ToHashSet(StringComparer.Ordinal);
        var byPost = await HasFeatureAsync(node, NodeFeatures.BatchStatus, cancellationToken);
        foreach (var page in requestIds.Chunk(byPost ? NodeBatchLimits.MaxStatusQuery : StatusPage))
        {
            using var response = byPost
                ? await PostStatusQueryAsync(node, page, cancellationToken)
                : await CallAsync(node, HttpMethod.Get, "processor/jobs/status?" + string.Join('&', page.Select(id => "request_id=" + Uri.EscapeDataString(id))), cancellationToken);
            await EnsureOkAsync(node, response, cancellationToken);
            var list = await ReadAsync<NodeJobList>(node, response, cancellationToken);
            // Only what was asked, once each: a broken node's nulls, strays and repeats go no further.
            foreach (var status in list?.Jobs ?? [])
                if (status?.RequestId is { } id && asked.Remove(id))
                    statuses.Add(status);
        }
        return statuses;
    }

    /// <summary>Ids per status call: 64 ids of about 40 characters keep the request line near 3 KiB.</summary>
    public const int StatusPage = 64;

    private async Task<HttpResponseMessage> PostStatusQueryAsync(NodeTarget node, string[] ids, CancellationToken cancellationToken)
    {
        try
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(new NodeStatusQuery { RequestIds = ids }, DroverJson.Options);
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
            return await SendAsync(node, HttpMethod.Post, "processor/jobs/status", content, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException)
        {
            throw new NodeUnreachableException($"node {node.Name} cannot be reached: {e.Message}", e);
        }
    }

    /// <summary>
    /// Whether the node announced <paramref name="feature"/> in its info. Known from the last info read (by the
    /// follower, or here: the first call to a node asks once, and every caller waits for that one answer); a stale
    /// answer serves while a fresh one is fetched. A node that cannot be asked is spoken to without optional features.
    /// </summary>
    private async ValueTask<bool> HasFeatureAsync(NodeTarget node, string feature, CancellationToken cancellationToken)
    {
        var features = FeaturesOf(node);
        var (known, refresh) = features.Check(time.GetUtcNow(), FeaturesFresh, FeaturesRetry, () => RefreshFeaturesAsync(node, features));
        if (known is null)
            known = await refresh!.WaitAsync(cancellationToken);
        return known.Contains(feature);
    }

    private async Task<IReadOnlySet<string>> RefreshFeaturesAsync(NodeTarget node, FeatureSet features)
    {
        try
        {
            await GetInfoAsync(node, _stopping.Token);
        }
        catch (Exception)
        {
            // Whatever kept the info from being read, the node is spoken to without optional features for a while.
            features.Failed(time.GetUtcNow());
        }
        return features.Current ?? new HashSet<string>();
    }

    private FeatureSet FeaturesOf(NodeTarget node) => _features.GetOrAdd(Key(node), _ => new FeatureSet());

    // A node is its address and its token: a node replaced by another at the same address with another token is another node.
    private static string Key(NodeTarget node) => node.Uri.AbsoluteUri + " " + node.Token;

    private static string Truncate(string text) => text.Length > 500 ? text[..500] : text;

    public void Dispose()
    {
        _stopping.Cancel();
        _stopping.Dispose();
    }

    /// <summary>The starts waiting to be sent to one node, and whether a loop is sending them.</summary>
    private sealed class StartQueue
    {
        public Lock Gate { get; } = new();
        public Queue<PendingStart> Pending { get; } = new();
        public bool Sending { get; set; }
    }

    private sealed class PendingStart(NodeJobRequest request, CancellationToken cancel)
    {
        public NodeJobRequest Request { get; } = request;
        public CancellationToken Cancel { get; } = cancel;
        public TaskCompletionSource<StartResult> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>What one node announced, when that was learned, and the one info call under way to learn it again.</summary>
    private sealed class FeatureSet
    {
        private readonly Lock _gate = new();
        private DateTimeOffset _checkedAt;
        private bool _failed;
        private Task<IReadOnlySet<string>>? _refreshing;

        public IReadOnlySet<string>? Current { get; private set; }

        /// <summary>The features to use now (null: none known yet, wait for the refresh it returns), starting a refresh when stale.</summary>
        public (IReadOnlySet<string>? Known, Task<IReadOnlySet<string>>? Refresh) Check(
            DateTimeOffset now, TimeSpan fresh, TimeSpan retry, Func<Task<IReadOnlySet<string>>> refresh)
        {
            lock (_gate)
            {
                var stale = Current is null || now - _checkedAt > (_failed ? retry : fresh);
                if (stale && _refreshing is null)
                {
                    var started = Task.Run(refresh, CancellationToken.None);
                    _refreshing = started;
                    _ = started.ContinueWith(done =>
                    {
                        lock (_gate)
                        {
                            if (_refreshing == done)
                                _refreshing = null;
                        }
                    }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
                return (Current, Current is null ? _refreshing : null);
            }
        }

        public void Learned(IReadOnlyList<string> features, DateTimeOffset now)
        {
            lock (_gate)
                (Current, _checkedAt, _failed) = (features.ToHashSet(StringComparer.Ordinal), now, false);
        }

        public void Failed(DateTimeOffset now)
        {
            lock (_gate)
                (Current, _checkedAt, _failed) = (new HashSet<string>(), now, true);
        }

        public void Forget()
        {
            lock (_gate)
                (Current, _checkedAt, _failed) = (new HashSet<string>(), DateTimeOffset.MinValue, true);
        }
    }

    public async Task<NodeJobStatus?> KillAsync(NodeTarget node, NodeAttempt attempt, CancellationToken cancellationToken)
    {
        using var response = await CallAsync(node, HttpMethod.Post, $"processor/jobs/{Uri.EscapeDataString(attempt.RequestId)}/kill", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return null;
        await EnsureOkAsync(node, response, cancellationToken);
        return await ReadAsync<NodeJobStatus>(node, response, cancellationToken);
    }

    /// <summary>
    /// A node's JSON answer. One that cannot be read (not JSON, not UTF-8, not the shape asked for) fails the call
    /// as an unreachable node does, so that the caller's handling of a failed node applies to it too.
    /// </summary>
    private static async Task<T?> ReadAsync<T>(NodeTarget node, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadFromJsonAsync<T>(DroverJson.Options, cancellationToken);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or DecoderFallbackException or InvalidOperationException or ArgumentException)
        {
            throw new NodeUnreachableException($"node {node.Name} sent an answer that is not valid JSON of the node protocol: {e.Message}", e);
        }
        catch (Exception e) when (e is HttpRequestException or IOException)
        {
            throw new NodeUnreachableException($"node {node.Name} broke off its answer: {e.Message}", e);
        }
    }

    public async Task<Stream?> OpenLogAsync(NodeTarget node, NodeAttempt attempt, long offset, bool follow, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(StreamClient);
        var path = string.Create(CultureInfo.InvariantCulture,
            $"processor/jobs/{Uri.EscapeDataString(attempt.RequestId)}/log?offset={offset}{(follow ? "&follow=true" : "")}");
        using var request = Request(node, HttpMethod.Get, path, null);
        HttpResponseMessage response;
        try
        {
            response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (HttpRequestException e)
        {
            throw new NodeUnreachableException($"node {node.Name} cannot be reached: {e.Message}", e);
        }
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            response.Dispose();
            return null;
        }
        if (!response.IsSuccessStatusCode)
        {
            var detail = await ReadDetailAsync(response, cancellationToken);
            response.Dispose();
            throw new NodeUnreachableException($"node {node.Name} answered {(int)response.StatusCode}: {detail}");
        }
        return new ResponseStream(response, await response.Content.ReadAsStreamAsync(cancellationToken));
    }

    private async Task<HttpResponseMessage> CallAsync(NodeTarget node, HttpMethod method, string path, CancellationToken cancellationToken)
    {
        try
        {
            return await SendAsync(node, method, path, null, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException)
        {
            throw new NodeUnreachableException($"node {node.Name} cannot be reached: {e.Message}", e);
        }
    }

    private Task<HttpResponseMessage> SendAsync(
        NodeTarget node, HttpMethod method, string path, HttpContent? content, CancellationToken cancellationToken, StrongBox<int>? tries = null)
    {
        var request = Request(node, method, path, content);
        if (tries is not null)
            request.Options.Set(TryCounter.Key, tries);
        return clients.CreateClient(Client).SendAsync(request, cancellationToken);
    }

    /// <summary>Inside the retries: counts the tries of a request that went on towards the node (an open circuit stops one before it).</summary>
    private sealed class TryCounter : DelegatingHandler
    {
        public static readonly HttpRequestOptionsKey<StrongBox<int>> Key = new("drover.tries");

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Options.TryGetValue(Key, out var tries))
                Interlocked.Increment(ref tries.Value);
            return base.SendAsync(request, cancellationToken);
        }
    }

    private static HttpRequestMessage Request(NodeTarget node, HttpMethod method, string path, HttpContent? content)
    {
        var request = new HttpRequestMessage(method, new Uri(node.Uri, path)) { Content = content };
        if (!string.IsNullOrEmpty(node.Token))
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", node.Token);
        return request;
    }

    private static async Task EnsureOkAsync(NodeTarget node, HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (!response.IsSuccessStatusCode)
            throw new NodeUnreachableException(
                $"node {node.Name} answered {(int)response.StatusCode}: {await ReadDetailAsync(response, cancellationToken)}");
    }

    private static async Task<string> ReadDetailAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        return body.Length > 500 ? body[..500] : body;
    }

    /// <summary>A refused connection or an open circuit means the node never saw the request.</summary>
    private static bool NeverSent(Exception e) => e switch
    {
        BrokenCircuitException => true,
        HttpRequestException { InnerException: SocketException { SocketErrorCode: SocketError.ConnectionRefused or SocketError.HostNotFound or SocketError.NetworkUnreachable } } => true,
        HttpRequestException { HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError } => true,
        _ => false,
    };

    /// <summary>The body of a response that disposes the response with it.</summary>
    private sealed class ResponseStream(HttpResponseMessage response, Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                inner.Dispose();
                response.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}
