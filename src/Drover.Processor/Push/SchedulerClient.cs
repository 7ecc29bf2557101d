using System.Net.Http.Headers;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Push;

/// <summary>
/// The two calls a node makes to its schedulers, each sent to whichever one answers (<see cref="SchedulerFailover"/>).
/// Both are idempotent (they state facts), so retries and failovers are safe.
/// </summary>
internal sealed class SchedulerClient(IHttpClientFactory clients, IOptions<ProcessorOptions> options, TimeProvider time)
{
    public const string HttpClientName = "scheduler";
    private readonly SchedulerFailover _failover = new(options.Value.Schedulers(), time);

    /// <summary>Whether any scheduler is configured; without one the node only answers calls.</summary>
    public bool Enabled => _failover.Schedulers.Count > 0;

    /// <summary>When a call last reached any scheduler (the start of this Processor before any did).</summary>
    public DateTimeOffset LastReached => _failover.LastReached;

    public static void Configure(IServiceProvider services, HttpClient client)
    {
        var settings = services.GetRequiredService<IOptions<ProcessorOptions>>().Value;
        if (!string.IsNullOrEmpty(settings.SchedulerToken))
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.SchedulerToken);
    }

    public Task HeartbeatAsync(NodeInfo info, CancellationToken cancellationToken) =>
        _failover.PostAsJsonAsync(clients.CreateClient(HttpClientName), NodeRoutes.Heartbeat, info, cancellationToken);

    public Task PushJobsAsync(IReadOnlyList<NodeJobStatus> jobs, CancellationToken cancellationToken)
    {
        var path = NodeRoutes.PushJobs.Replace("{name}", Uri.EscapeDataString(options.Value.Name), StringComparison.Ordinal);
        return _failover.PostAsJsonAsync(clients.CreateClient(HttpClientName), path, new NodeJobList { Jobs = jobs }, cancellationToken);
    }
}
