using System.Net.Http.Headers;
using System.Net.Http.Json;
using Drover.Contracts;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Push;

/// <summary>The two calls a node makes to its scheduler. Both are idempotent (they state facts), so retries are safe.</summary>
internal sealed class SchedulerClient(IHttpClientFactory clients, IOptions<ProcessorOptions> options, TimeProvider time)
{
    public const string HttpClientName = "scheduler";
    private long _lastReached = time.GetUtcNow().ToUnixTimeMilliseconds();

    /// <summary>When a call last reached the scheduler (the start of this Processor before any did).</summary>
    public DateTimeOffset LastReached => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _lastReached));

    private void Reached() => Interlocked.Exchange(ref _lastReached, time.GetUtcNow().ToUnixTimeMilliseconds());

    public static void Configure(IServiceProvider services, HttpClient client)
    {
        var settings = services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
        // A trailing slash, so that relative calls keep a path the scheduler's URL may carry (http://gw/drover/).
        if (settings.SchedulerUrl is { } url)
            client.BaseAddress = url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
        if (!string.IsNullOrEmpty(settings.SchedulerToken))
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.SchedulerToken);
    }

    public async Task HeartbeatAsync(NodeInfo info, CancellationToken cancellationToken)
    {
        using var response = await clients.CreateClient(HttpClientName)
            .PostAsJsonAsync(Relative(NodeRoutes.Heartbeat), info, DroverJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        Reached();
    }

    public async Task PushJobsAsync(IReadOnlyList<NodeJobStatus> jobs, CancellationToken cancellationToken)
    {
        var path = NodeRoutes.PushJobs.Replace("{name}", Uri.EscapeDataString(options.Value.Name), StringComparison.Ordinal);
        using var response = await clients.CreateClient(HttpClientName)
            .PostAsJsonAsync(Relative(path), new NodeJobList { Jobs = jobs }, DroverJson.Options, cancellationToken);
        response.EnsureSuccessStatusCode();
        Reached();
    }

    // Relative to the base address, so that a scheduler behind a path prefix (http://gw/prefix/) keeps its prefix.
    private static Uri Relative(string route) => new(route.TrimStart('/'), UriKind.Relative);
}
