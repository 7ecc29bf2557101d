using Drover.Gateway.Auth;
using Microsoft.Extensions.Options;

namespace Drover.Gateway;

/// <summary>The <c>Gateway</c> configuration section.</summary>
public sealed class GatewayOptions
{
    public const string Section = "Gateway";

    /// <summary>
    /// Where the scheduler answers: one or several destinations, balanced and health-checked on <c>/healthz</c>.
    /// Configured as a list (<c>Gateway:SchedulerUrls:0=...</c>) or one value separated by <c>;</c>.
    /// </summary>
    public IList<string> SchedulerUrls { get; } = [];

    /// <summary>The local Processor behind <c>/processor/*</c>; without it that route is not served.</summary>
    public Uri? ProcessorUrl { get; set; }

    /// <summary>Service tokens the gateway sends upstream in place of the caller's key.</summary>
    public string? SchedulerToken { get; set; }
    public string? ProcessorToken { get; set; }

    /// <summary>The token for <c>/nodes/{name}/processor/*</c>; <see cref="ProcessorToken"/> when not set.</summary>
    public string? NodeToken { get; set; }

    /// <summary>API keys. With none the gateway is open (everyone is admin) and only listens on loopback.</summary>
    public IList<ApiKeyOptions> Keys { get; } = [];

    /// <summary>The HMAC key shared with the scheduler that signs job tokens (<c>DROVER_TOKEN</c>).</summary>
    public string? JobTokenKey { get; set; }

    /// <summary>The largest request body passed on, in bytes (uploads included); larger is a 413.</summary>
    public long MaxRequestBodySize { get; set; } = 1L << 30;

    public RateLimitOptions RateLimit { get; set; } = new();

    /// <summary>Event streams and followed logs one caller (key, DAG of jobs, or address) may hold open at once; 429 beyond.</summary>
    public int MaxStreamsPerCaller { get; set; } = 32;

    /// <summary>How long the node name to address map read from the scheduler is trusted.</summary>
    public TimeSpan NodeCacheTtl { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often each scheduler destination's <c>/healthz</c> is probed.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// How long a proxied call may go without a byte moving either way before it is cut. Long, because a followed
    /// log of a quiet job is silent; not infinite, so a wedged backend does not hold a connection forever.
    /// </summary>
    public TimeSpan UpstreamIdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    public bool IsOpen => Keys.Count == 0;

    public string? TokenForNodes => NodeToken ?? ProcessorToken;
}

public sealed class ApiKeyOptions
{
    /// <summary>Who holds the key: shows in logs and partitions the rate limit.</summary>
    public string Name { get; set; } = "";

    /// <summary>The key itself. Prefer <see cref="Sha256"/> in files that others can read.</summary>
    public string? Key { get; set; }

    /// <summary>Lower-case or upper-case hex of SHA-256 over the key's UTF-8 bytes.</summary>
    public string? Sha256 { get; set; }

    /// <summary><c>read</c>, <c>submit</c> or <c>admin</c>.</summary>
    public string Role { get; set; } = "";

    /// <summary>Overrides <see cref="RateLimitOptions.PermitsPerSecond"/> for this key.</summary>
    public int? PermitsPerSecond { get; set; }

    /// <summary>Overrides <see cref="RateLimitOptions.Burst"/> for this key.</summary>
    public int? Burst { get; set; }
}

/// <summary>A token bucket per caller: <see cref="Burst"/> requests at once, refilled at <see cref="PermitsPerSecond"/>.</summary>
public sealed class RateLimitOptions
{
    public int PermitsPerSecond { get; set; } = 2000;
    public int Burst { get; set; } = 4000;
}

/// <summary>Reports every problem with the configuration at once, so one start shows them all.</summary>
internal sealed class GatewayOptionsValidator : IValidateOptions<GatewayOptions>
{
    public ValidateOptionsResult Validate(string? name, GatewayOptions options)
    {
        var problems = new List<string>();
        if (options.SchedulerUrls.Count == 0)
            problems.Add("Gateway:SchedulerUrls: at least one scheduler URL is required, e.g. http://127.0.0.1:8081");
        foreach (var url in options.SchedulerUrls)
        {
            if (!IsHttpUrl(url))
                problems.Add($"Gateway:SchedulerUrls: '{url}' is not an absolute http(s) URL");
        }
        if (options.ProcessorUrl is { } processor && !IsHttpUrl(processor.OriginalString))
            problems.Add($"Gateway:ProcessorUrl: '{processor}' is not an absolute http(s) URL");
        if (options.MaxRequestBodySize <= 0)
            problems.Add("Gateway:MaxRequestBodySize: must be a positive number of bytes");
        if (options.NodeCacheTtl <= TimeSpan.Zero)
            problems.Add("Gateway:NodeCacheTtl: must be positive");
        if (options.HealthCheckInterval <= TimeSpan.Zero)
            problems.Add("Gateway:HealthCheckInterval: must be positive");
        if (options.UpstreamIdleTimeout <= TimeSpan.Zero)
            problems.Add("Gateway:UpstreamIdleTimeout: must be positive");
        CheckRate("Gateway:RateLimit", options.RateLimit.PermitsPerSecond, options.RateLimit.Burst, problems);

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Keys.Count; i++)
        {
            var key = options.Keys[i];
            var at = $"Gateway:Keys:{i}";
            if (string.IsNullOrWhiteSpace(key.Name))
                problems.Add($"{at}:Name: every key needs a name");
            else if (!names.Add(key.Name))
                problems.Add($"{at}:Name: '{key.Name}' is used by two keys");
            if (string.IsNullOrEmpty(key.Key) == string.IsNullOrEmpty(key.Sha256))
                problems.Add($"{at}: give exactly one of Key or Sha256");
            else if (key.Sha256 is { Length: > 0 } hash && !IsSha256Hex(hash))
                problems.Add($"{at}:Sha256: must be 64 hex digits (SHA-256 of the key)");
            if (!GatewayRoles.TryParseKeyRole(key.Role, out _))
                problems.Add($"{at}:Role: '{key.Role}' is not one of read, submit, admin");
            CheckRate(at, key.PermitsPerSecond ?? 1, key.Burst ?? 1, problems);
        }
        if (options.MaxStreamsPerCaller < 1)
            problems.Add($"{GatewayOptions.Section}:MaxStreamsPerCaller must be 1 or more, not {options.MaxStreamsPerCaller}");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    private static void CheckRate(string at, int perSecond, int burst, List<string> problems)
    {
        if (perSecond <= 0)
            problems.Add($"{at}:PermitsPerSecond: must be positive");
        if (burst <= 0)
            problems.Add($"{at}:Burst: must be positive");
    }

    private static bool IsHttpUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);

    private static bool IsSha256Hex(string hash) =>
        hash.Length == 64 && hash.All(c => char.IsAsciiHexDigit(c));
}

/// <summary>Accepts <c>Gateway:SchedulerUrls=http://a;http://b</c> as well as the list form, so a command line stays short.</summary>
internal sealed class GatewayOptionsSetup(IConfiguration configuration) : IPostConfigureOptions<GatewayOptions>
{
    public void PostConfigure(string? name, GatewayOptions options)
    {
        if (options.SchedulerUrls.Count > 0 || configuration[$"{GatewayOptions.Section}:SchedulerUrls"] is not { Length: > 0 } joined)
            return;
        foreach (var url in joined.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            options.SchedulerUrls.Add(url);
    }
}
