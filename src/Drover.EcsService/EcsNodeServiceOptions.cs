using Drover.Aws;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.EcsService;

/// <summary>
/// The <c>EcsNode</c> section: how the service answers and whom it registers with. The cluster itself is the one
/// entry of <c>Aws:EcsNodes</c>, configured exactly as for the scheduler's in-process ECS nodes.
/// </summary>
public sealed class EcsNodeServiceOptions
{
    public const string Section = "EcsNode";

    /// <summary>The node's token: every call but <c>/healthz</c> needs it as <c>Authorization: Bearer</c>.</summary>
    public string? Token { get; set; }

    /// <summary>
    /// The schedulers to register with (heartbeats) and push to, each call to whichever answers; none: the scheduler
    /// must list this node statically. A list (<c>EcsNode:SchedulerUrls:0=...</c>) or one value separated by <c>;</c>.
    /// </summary>
    public IList<string> SchedulerUrls { get; } = [];

    /// <summary>The shortcut for one scheduler: <see cref="SchedulerUrls"/> with one entry. Not both.</summary>
    public Uri? SchedulerUrl { get; set; }
    public string? SchedulerToken { get; set; }
    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The URL the scheduler should call this node at; by default the first address it listens on.</summary>
    public Uri? AdvertiseUri { get; set; }

    /// <summary>How often running jobs are checked against their <c>timeout_seconds</c>.</summary>
    public TimeSpan TimeoutCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a kill waits for ECS to report the task stopped before answering with what it knows.</summary>
    public TimeSpan KillWait { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>ECS's own limit on a container override is 8 KiB of command and environment; a body is kept well under a megabyte.</summary>
    public long MaxRequestBodySize { get; set; } = 1024 * 1024;

    internal IReadOnlyList<Uri> Schedulers() => SchedulerUrlSettings.Resolve(SchedulerUrl, SchedulerUrls);
}

internal sealed class EcsNodeServiceOptionsValidator(IOptions<AwsOptions> aws) : IValidateOptions<EcsNodeServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, EcsNodeServiceOptions options)
    {
        var errors = new List<string>();
        if (aws.Value.EcsNodes.Count != 1)
            errors.Add($"Aws:EcsNodes must name exactly one ECS cluster for this node (it names {aws.Value.EcsNodes.Count})");
        errors.AddRange(SchedulerUrlSettings.Problems(EcsNodeServiceOptions.Section, options.SchedulerUrl, options.SchedulerUrls.ToList()));
        if (options.AdvertiseUri is { IsAbsoluteUri: false })
            errors.Add("EcsNode:AdvertiseUri must be an absolute URL");
        if (options.HeartbeatInterval <= TimeSpan.Zero)
            errors.Add("EcsNode:HeartbeatInterval must be positive");
        if (options.TimeoutCheckInterval <= TimeSpan.Zero)
            errors.Add("EcsNode:TimeoutCheckInterval must be positive");
        if (options.KillWait <= TimeSpan.Zero)
            errors.Add("EcsNode:KillWait must be positive");
        if (options.MaxRequestBodySize <= 0)
            errors.Add("EcsNode:MaxRequestBodySize must be positive");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

/// <summary>Accepts <c>EcsNode:SchedulerUrls=http://a;http://b</c> as well as the list form.</summary>
internal sealed class EcsNodeServiceOptionsSetup(IConfiguration configuration) : IPostConfigureOptions<EcsNodeServiceOptions>
{
    public void PostConfigure(string? name, EcsNodeServiceOptions options) =>
        SchedulerUrlSettings.AddJoined(configuration, EcsNodeServiceOptions.Section, options.SchedulerUrls);
}
