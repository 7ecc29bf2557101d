using System.ComponentModel.DataAnnotations;
using Drover.Contracts;
using Drover.Scheduler.Nodes;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler;

/// <summary>The <c>Scheduler</c> configuration section.</summary>
public sealed class SchedulerOptions
{
    public const string Section = "Scheduler";

    /// <summary>
    /// Where jobs, attempts and nodes are kept: a SQLite file (a path; one scheduler), or a PostgreSQL database
    /// (<c>postgresql://user:password@host:port/database</c>, or Npgsql's keyword form; any number of schedulers).
    /// Without a password in it, the password comes from <c>PGPASSWORD</c> or the file <c>PGPASSFILE</c> names.
    /// </summary>
    [Required]
    public string Database { get; set; } = ".drover/scheduler.db";

    /// <summary>
    /// Schedulers sharing a database each renew their presence this often times five; one gone for this long has
    /// its attempts taken over by the others, and the maintenance lease (pruning, expiry, discovery) passes on.
    /// </summary>
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Files uploaded with jobs wait here until the job stops (a retry on another node needs them again). Schedulers
    /// sharing a PostgreSQL database must share this directory too (one machine's disk, or a network file system):
    /// any of them may start a job whose files another accepted.
    /// </summary>
    [Required]
    public string DataDirectory { get; set; } = ".drover/uploads";

    /// <summary>Nodes known from configuration; Processors configured with this scheduler's URL also register themselves.</summary>
    public List<StaticNodeOptions> Nodes { get; set; } = [];

    /// <summary>
    /// Each node's own credential for calling the scheduler, by node name: it may heartbeat and push as that node and
    /// do nothing else. Nodes may also use <see cref="Token"/>, which may do everything.
    /// </summary>
    public Dictionary<string, string> NodeCredentials { get; set; } = new(StringComparer.Ordinal);

    /// <summary>A registered node unseen for this long, with no placed or running attempt, is forgotten.</summary>
    public TimeSpan NodeExpiry { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Bearer token sent to nodes that have no token of their own.</summary>
    public string? NodeToken { get; set; }

    /// <summary>Service token callers must send (gateway, nodes' pushes and heartbeats). Unset: the API is open (loopback only).</summary>
    public string? Token { get; set; }

    /// <summary>HMAC key of job tokens: with it, every attempt gets <c>DROVER_TOKEN</c>, which may read and submit jobs.</summary>
    public string? JobTokenKey { get; set; }

    /// <summary>A job token still works this long after its attempt stopped (a job's last calls as it exits); at most <see cref="MaxJobTokenGrace"/>.</summary>
    public TimeSpan JobTokenGrace { get; set; } = TimeSpan.FromSeconds(30);

    public static readonly TimeSpan MaxJobTokenGrace = TimeSpan.FromHours(1);

    /// <summary>The <c>DROVER_URL</c> jobs get: <c>$DROVER_URL/scheduler/jobs/new</c> must work. Default: this scheduler's own address.</summary>
    public string? PublicUrl { get; set; }

    /// <summary>A node not heard from for this long is down; its running attempts are lost once it cannot be reached.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// How often nodes with running attempts are asked for their status (one batched call per node), and how often
    /// the placement loop looks at the queue without being woken (retries whose backoff ended, anything missed).
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often configured (not self-registering) nodes are asked for <c>/processor/info</c>: slots, labels, health.</summary>
    public TimeSpan ReconcileInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>A node that answered 429 or failed gets no new job for this long.</summary>
    public TimeSpan NodeBackoff { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The wait before the first retry; it doubles with every failure (with jitter) up to <see cref="RetryBackoffMax"/>.</summary>
    public TimeSpan RetryBackoffBase { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan RetryBackoffMax { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Every call to a node ends after this long, retries included (log streams excepted).</summary>
    public TimeSpan NodeCallTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Attempts a job gets when it does not say: 3, like Nomad's default restart attempts for batch jobs. A job
    /// that should never run twice says <c>"max_attempts": 1</c>.
    /// </summary>
    [Range(1, JobLimits.MaxAttempts)]
    public int DefaultMaxAttempts { get; set; } = 3;

    /// <summary>Events (<c>GET /scheduler/events</c>) are kept this long for clients that reconnect with <c>Last-Event-ID</c>.</summary>
    public TimeSpan EventRetention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>At most this many events are kept, the newest.</summary>
    [Range(1000, int.MaxValue)]
    public int MaxEvents { get; set; } = 1_000_000;

    /// <summary>How often old events are deleted.</summary>
    public TimeSpan EventPruneInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>A comment line goes to idle event streams this often, so that proxies keep them open.</summary>
    public TimeSpan EventHeartbeat { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Event streams and followed logs one caller may hold open at once (429 beyond): a DAG's jobs, or an address when the scheduler is open.</summary>
    [Range(1, 100_000)]
    public int MaxStreamsPerCaller { get; set; } = 32;

    /// <summary>Most jobs in one <c>POST /scheduler/dags/new</c>.</summary>
    [Range(1, 1_000_000)]
    public int MaxDagJobs { get; set; } = 10_000;

    /// <summary>Most dependency edges in one DAG request, and <c>depends_on</c> entries of one job.</summary>
    [Range(1, 10_000_000)]
    public int MaxDagEdges { get; set; } = 50_000;

    /// <summary>Largest request body accepted, uploads included (413 above it).</summary>
    [Range(1, long.MaxValue)]
    public long MaxRequestBodySize { get; set; } = 64L * 1024 * 1024;
}

public sealed class StaticNodeOptions
{
    public string Name { get; set; } = "";
    public string Uri { get; set; } = "";
    public string? Token { get; set; }
    public Dictionary<string, string> Labels { get; set; } = [];

    /// <summary>What speaks for the node; ECS clusters of <c>Aws:EcsNodes</c> are added as <see cref="NodeKind.Ecs"/>.</summary>
    public NodeKind Kind { get; set; } = NodeKind.Processor;
}

/// <summary>Limits on what a job may ask for.</summary>
public static class JobLimits
{
    public const int MaxAttempts = 100;
    public const int MaxPriority = 1_000_000;
}

/// <summary>Rules across fields, every failure reported at once.</summary>
internal sealed class SchedulerOptionsValidator : IValidateOptions<SchedulerOptions>
{
    public ValidateOptionsResult Validate(string? name, SchedulerOptions options)
    {
        var failures = new List<string>();
        void Positive(TimeSpan value, string field)
        {
            if (value <= TimeSpan.Zero)
                failures.Add($"Scheduler:{field} must be a positive duration (e.g. 00:00:05), not {value}.");
        }
        Positive(options.HeartbeatTimeout, nameof(options.HeartbeatTimeout));
        Positive(options.PollInterval, nameof(options.PollInterval));
        Positive(options.ReconcileInterval, nameof(options.ReconcileInterval));
        Positive(options.NodeBackoff, nameof(options.NodeBackoff));
        Positive(options.RetryBackoffBase, nameof(options.RetryBackoffBase));
        Positive(options.RetryBackoffMax, nameof(options.RetryBackoffMax));
        Positive(options.NodeCallTimeout, nameof(options.NodeCallTimeout));
        Positive(options.EventRetention, nameof(options.EventRetention));
        Positive(options.EventPruneInterval, nameof(options.EventPruneInterval));
        Positive(options.EventHeartbeat, nameof(options.EventHeartbeat));
        Positive(options.NodeExpiry, nameof(options.NodeExpiry));
        if (options.JobTokenGrace < TimeSpan.Zero || options.JobTokenGrace > SchedulerOptions.MaxJobTokenGrace)
            failures.Add($"Scheduler:JobTokenGrace must be between 00:00:00 and {SchedulerOptions.MaxJobTokenGrace}, not {options.JobTokenGrace}.");
        foreach (var (node, credential) in options.NodeCredentials)
        {
            if (!JobRules.IsSafeName(node))
                failures.Add($"Scheduler:NodeCredentials:{node}: a node name is letters, digits, '.', '_' or '-'.");
            if (string.IsNullOrEmpty(credential))
                failures.Add($"Scheduler:NodeCredentials:{node} is empty.");
            else if (credential == options.Token)
                failures.Add($"Scheduler:NodeCredentials:{node} must differ from Scheduler:Token: a node's credential may do far less.");
        }
        if (options.LeaseDuration < TimeSpan.FromSeconds(1))
            failures.Add($"Scheduler:LeaseDuration must be at least 00:00:01, not {options.LeaseDuration}.");
        if (Storage.SqlDialect.IsPostgres(options.Database))
        {
            try
            {
                Storage.Postgres.PostgresDialect.ConnectionString(options.Database);
            }
            catch (ArgumentException e)
            {
                // Npgsql's own words name the bad keyword; the setting itself is not repeated (it may hold a password).
                failures.Add($"Scheduler:Database is not a usable PostgreSQL address: {e.Message}");
            }
        }
        if (options.RetryBackoffMax < options.RetryBackoffBase)
            failures.Add("Scheduler:RetryBackoffMax must not be shorter than Scheduler:RetryBackoffBase.");
        if (options.PublicUrl is { Length: > 0 } url && !IsHttpUrl(url))
            failures.Add($"Scheduler:PublicUrl must be an absolute http(s) URL, not '{url}'.");

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.Nodes.Count; i++)
        {
            var node = options.Nodes[i];
            if (!JobRules.IsSafeName(node.Name))
                failures.Add($"Scheduler:Nodes:{i}:Name must be letters, digits, '.', '_' or '-', not '{node.Name}'.");
            else if (!names.Add(node.Name))
                failures.Add($"Scheduler:Nodes:{i}:Name '{node.Name}' is configured twice.");
            if (!IsHttpUrl(node.Uri))
                failures.Add($"Scheduler:Nodes:{i}:Uri must be an absolute http(s) URL, not '{node.Uri}'.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static bool IsHttpUrl(string value) =>
        System.Uri.TryCreate(value, UriKind.Absolute, out var uri) && (uri.Scheme == System.Uri.UriSchemeHttp || uri.Scheme == System.Uri.UriSchemeHttps);
}
