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

/// <summary>Speaks the node protocol (docs/node-protocol.md) to Processors and any other program that answers it.</summary>
internal sealed class ProcessorNodeBackend(IHttpClientFactory clients) : INodeBackend
{
    public const string Client = "drover-node";
    public const string StreamClient = "drover-node-stream";

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
        return await ReadAsync<NodeInfo>(node, response, cancellationToken)
            ?? throw new NodeUnreachableException($"node {node.Name} sent no info");
    }

    public async Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken)
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
            var detail = $"{(int)response.StatusCode}: {await ReadDetailAsync(response, cancellationToken)}";
            if (tries.Value > 1 && (int)response.StatusCode < 500)
                return new StartResult(StartOutcome.Unknown, Detail: $"{detail} (after {tries.Value - 1} tries that may have been recorded)");
            return response.StatusCode switch
            {
                // 507: the node's disk is full and it recorded nothing, as with a full node.
                HttpStatusCode.TooManyRequests or HttpStatusCode.InsufficientStorage => new StartResult(StartOutcome.Busy, Detail: detail),
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => new StartResult(StartOutcome.NotDelivered, Detail: detail),
                >= HttpStatusCode.InternalServerError => new StartResult(StartOutcome.Unknown, Detail: detail),
                _ => new StartResult(StartOutcome.Rejected, Detail: detail),
            };
        }
        catch (Exception e) when (e is HttpRequestException or TimeoutRejectedException or BrokenCircuitException or IOException)
        {
            var certain = tries.Value == 0 || (tries.Value == 1 && NeverSent(e) && e is not BrokenCircuitException);
            return new StartResult(certain ? StartOutcome.NotDelivered : StartOutcome.Unknown, Detail: e.Message);
        }
        finally
        {
            content.Dispose();
        }
    }

    /// <summary>
    /// Asks in pages of <see cref="StatusPage"/> ids: every id goes into the URL, and one URL for all of a busy node's
    /// attempts would outgrow what servers accept in a request line (Kestrel's 8 KiB, past ~400 ids).
    /// </summary>
    public async Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<string> requestIds, CancellationToken cancellationToken)
    {
        var statuses = new List<NodeJobStatus>(requestIds.Count);
        var asked = requestIds.ToHashSet(StringComparer.Ordinal);
        foreach (var page in requestIds.Chunk(StatusPage))
        {
            var query = string.Join('&', page.Select(id => "request_id=" + Uri.EscapeDataString(id)));
            using var response = await CallAsync(node, HttpMethod.Get, "processor/jobs/status?" + query, cancellationToken);
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

    public async Task<NodeJobStatus?> KillAsync(NodeTarget node, string requestId, CancellationToken cancellationToken)
    {
        using var response = await CallAsync(node, HttpMethod.Post, $"processor/jobs/{Uri.EscapeDataString(requestId)}/kill", cancellationToken);
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

    public async Task<Stream?> OpenLogAsync(NodeTarget node, string requestId, long offset, bool follow, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(StreamClient);
        var path = string.Create(CultureInfo.InvariantCulture,
            $"processor/jobs/{Uri.EscapeDataString(requestId)}/log?offset={offset}{(follow ? "&follow=true" : "")}");
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
