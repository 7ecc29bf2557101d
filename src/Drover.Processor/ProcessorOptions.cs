using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.Processor;

/// <summary>The <c>Processor</c> configuration section.</summary>
public sealed class ProcessorOptions
{
    public const string Section = "Processor";

    /// <summary>The node's name towards the scheduler; the machine's host name unless configured.</summary>
    public string Name { get; set; } = System.Net.Dns.GetHostName();

    /// <summary>Jobs live under <c>&lt;StateDirectory&gt;/processor/job/&lt;request_id&gt;/</c>.</summary>
    public string StateDirectory { get; set; } = ".drover/state";

    /// <summary>How many jobs may run at once; one more gets 429.</summary>
    public int Slots { get; set; } = Environment.ProcessorCount;

    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>The service token every call must carry as <c>Authorization: Bearer</c>.</summary>
    public string? Token { get; set; }

    /// <summary>Largest request body in bytes (uploads included); a larger one gets 413.</summary>
    public long MaxRequestBodySize { get; set; } = 1L << 30;

    /// <summary>The uri reported in <c>/processor/info</c>; the first bound address unless configured.</summary>
    public Uri? AdvertiseUri { get; set; }

    /// <summary>How long a killed job's processes get between SIGTERM and SIGKILL.</summary>
    public TimeSpan KillGracePeriod { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The schedulers the node registers with and pushes job state changes to, each call to whichever answers (several
    /// schedulers over one database). A list (<c>Processor:SchedulerUrls:0=...</c>) or one value separated by <c>;</c>.
    /// </summary>
    public IList<string> SchedulerUrls { get; } = [];

    /// <summary>The shortcut for one scheduler: <see cref="SchedulerUrls"/> with one entry. Not both.</summary>
    public Uri? SchedulerUrl { get; set; }

    public string? SchedulerToken { get; set; }

    public TimeSpan HeartbeatInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Variables of the Processor's own environment that jobs also get (e.g. <c>HTTP_PROXY</c>), beyond <c>PATH</c>,
    /// <c>HOME</c>, <c>USER</c>, <c>LOGNAME</c>, <c>SHELL</c>, <c>LANG</c>, <c>LANGUAGE</c>, <c>LC_*</c>, <c>TZ</c> and <c>TMPDIR</c>.
    /// </summary>
    public List<string> InheritEnvironment { get; set; } = [];

    /// <summary>The schedulers in order, from whichever of the two settings is used; none: the node does not push.</summary>
    internal IReadOnlyList<Uri> Schedulers() => SchedulerUrlSettings.Resolve(SchedulerUrl, SchedulerUrls);

    /// <summary>A job stopped this long ago is forgotten: its directory (status, log, files) is deleted. Said in <c>/processor/info</c>.</summary>
    public TimeSpan JobRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// Jobs that ask for it (<c>stop_when_disconnected</c>) are killed once no heartbeat reached the scheduler for this
    /// long. Keep it below the scheduler's <c>HeartbeatTimeout</c>, so that they are gone before their jobs are placed again.
    /// </summary>
    public TimeSpan DisconnectedStopAfter { get; set; } = TimeSpan.FromSeconds(10);
}

/// <summary>Reports every wrong setting at once, so a start-up failure can be fixed in one go.</summary>
internal sealed class ProcessorOptionsValidator : IValidateOptions<ProcessorOptions>
{
    public ValidateOptionsResult Validate(string? name, ProcessorOptions options)
    {
        var failures = new List<string>();
        if (!JobRules.IsSafeName(options.Name))
            failures.Add($"Processor:Name '{options.Name}' must be 1-{JobRules.MaxNameLength} letters, digits, '.', '_' or '-'.");
        if (string.IsNullOrWhiteSpace(options.StateDirectory))
            failures.Add("Processor:StateDirectory is required.");
        if (options.Slots < 1)
            failures.Add("Processor:Slots must be at least 1.");
        if (options.MaxRequestBodySize < 1)
            failures.Add("Processor:MaxRequestBodySize must be a positive number of bytes.");
        if (options.KillGracePeriod < TimeSpan.Zero || options.KillGracePeriod > TimeSpan.FromMinutes(10))
            failures.Add("Processor:KillGracePeriod must be between 0 and 10 minutes.");
        if (options.HeartbeatInterval <= TimeSpan.Zero)
            failures.Add("Processor:HeartbeatInterval must be positive.");
        if (options.JobRetention <= TimeSpan.Zero)
            failures.Add("Processor:JobRetention must be positive (e.g. 7.00:00:00).");
        if (options.DisconnectedStopAfter <= options.HeartbeatInterval)
            failures.Add("Processor:DisconnectedStopAfter must be longer than Processor:HeartbeatInterval.");
        if (options.AdvertiseUri is { } advertise && !IsHttp(advertise))
            failures.Add("Processor:AdvertiseUri must be an absolute http(s) uri.");
        failures.AddRange(SchedulerUrlSettings.Problems(ProcessorOptions.Section, options.SchedulerUrl, options.SchedulerUrls.ToList()));
        foreach (var variable in options.InheritEnvironment)
        {
            if (variable.StartsWith(ProcessorOptions.Section, StringComparison.OrdinalIgnoreCase) || variable.StartsWith("DROVER_", StringComparison.Ordinal)
                || variable.Length == 0 || variable.Contains('=', StringComparison.Ordinal))
                failures.Add($"Processor:InheritEnvironment: '{variable}' cannot be passed to jobs (the Processor's own settings and DROVER_* stay with it).");
        }
        foreach (var (key, value) in options.Labels)
        {
            if (string.IsNullOrWhiteSpace(key) || value is null)
                failures.Add($"Processor:Labels:{key} needs a name and a value.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsHttp(Uri uri) => uri.IsAbsoluteUri && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}

/// <summary>Accepts <c>Processor:SchedulerUrls=http://a;http://b</c> as well as the list form, so a command line stays short.</summary>
internal sealed class ProcessorOptionsSetup(IConfiguration configuration) : IPostConfigureOptions<ProcessorOptions>
{
    public void PostConfigure(string? name, ProcessorOptions options) =>
        SchedulerUrlSettings.AddJoined(configuration, ProcessorOptions.Section, options.SchedulerUrls);
}
