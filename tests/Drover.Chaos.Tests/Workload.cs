using System.Collections.Concurrent;
using System.Net;
using System.Text;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Chaos.Tests;

/// <summary>The shapes of job a chaos run submits; every command appends <c>$DROVER_JOB_ID $DROVER_ATTEMPT &lt;command&gt;</c> to the ledger.</summary>
public enum JobKind
{
    /// <summary>One command.</summary>
    OneCommand,

    /// <summary>Three commands in a row.</summary>
    Multi,

    /// <summary>A file uploaded with the job (multipart), checked by its command; Processors only (the shell node takes no uploads).</summary>
    Upload,

    /// <summary>Submits a child with its own token and waits for it (<c>wait_for_children</c>).</summary>
    Parent,

    /// <summary>A diamond of four jobs sent as one DAG: a, then b and c, then d.</summary>
    Dag,
}

/// <summary>What one accepted submission made: its jobs, and how many commands each of them runs.</summary>
public sealed record Submitted(JobKind Kind, string RequestId, IReadOnlyList<long> JobIds, int Commands);

/// <summary>
/// Clients as users write them: each submission goes to the gateway (or in turn to the entry points given, say the
/// schedulers themselves) with a request id of its own and is sent again, with the same request id and to the next
/// entry point, until it is answered 202, whatever fails meanwhile.
/// </summary>
public sealed class Workload(ChaosSystem system, IReadOnlyList<HttpClient>? through = null)
{
    private static readonly JobKind[] Kinds = Enum.GetValues<JobKind>();
    private readonly IReadOnlyList<HttpClient> _through = through is { Count: > 0 } ? through : [system.GatewayClient];
    private readonly ConcurrentQueue<Submitted> _submitted = new();
    private readonly string _name = Guid.NewGuid().ToString("N")[..8];
    private int _sequence;
    private int _resent;

    public IReadOnlyCollection<Submitted> Submitted => _submitted;

    /// <summary>Submissions that had to be sent again because the first try was not answered 202.</summary>
    public int Resent => _resent;

    public IEnumerable<long> JobIds => _submitted.SelectMany(s => s.JobIds);

    /// <summary>Submits <paramref name="count"/> submissions of every kind in turn, from <paramref name="clients"/> clients at once.</summary>
    public Task SubmitAsync(int count, int clients = 4, string? only = null, JobKind[]? kinds = null)
    {
        kinds ??= Kinds;
        var next = -1;
        return Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
                await SubmitOneAsync(kinds[i % kinds.Length], only);
        }));
    }

    /// <summary>One submission, sent until accepted; <paramref name="via"/> sends it there only, else it goes round the entry points.</summary>
    public async Task<Submitted> SubmitOneAsync(JobKind kind, string? node = null, string? script = null, int lines = 1, HttpClient? via = null)
    {
        var sequence = Interlocked.Increment(ref _sequence);
        var requestId = $"chaos-{_name}-{sequence}";
        var deadline = DateTime.UtcNow.AddSeconds(180);
        for (var attempt = 0; ; attempt++)
        {
            if (attempt > 0)
            {
                Interlocked.Increment(ref _resent);
                await Task.Delay(250);
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"submission {requestId} was not accepted within 180 s");
            try
            {
                using var content = Content(kind, requestId, node, script);
                var client = via ?? _through[(sequence + attempt) % _through.Count];
                using var response = await client.PostAsync(kind == JobKind.Dag ? "scheduler/dags/new" : "scheduler/jobs/new", content);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode is HttpStatusCode.Accepted or HttpStatusCode.OK or HttpStatusCode.Created)
                {
                    var submitted = Read(kind, requestId, body, lines);
                    _submitted.Enqueue(submitted);
                    return submitted;
                }
                // A refusal of the job itself is a mistake of this suite, not a fault: stop here and say so.
                if (response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.UnsupportedMediaType or HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden)
                    throw new InvalidOperationException($"submission {requestId} refused with {(int)response.StatusCode}: {body}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // not answered: the gateway or the scheduler is down; send it again
            }
        }
    }

    private static Submitted Read(JobKind kind, string requestId, string body, int lines)
    {
        if (kind == JobKind.Dag)
        {
            var dag = JsonSerializer.Deserialize<DagAnswer>(body, DroverJson.Options)!;
            return new Submitted(kind, requestId, dag.Jobs.Values.Order().ToList(), 1);
        }
        var answer = JsonSerializer.Deserialize<SubmitAnswer>(body, DroverJson.Options)!;
        return new Submitted(kind, requestId, [answer.JobId], kind switch { JobKind.Multi => 3, JobKind.Parent => 2, _ => lines });
    }

    /// <summary>The ledger line of command <paramref name="index"/>, written as the command starts.</summary>
    public string Line(int index) => $"echo \"$DROVER_JOB_ID $DROVER_ATTEMPT {index}\" >> '{system.Ledger}'";

    private Dictionary<string, string> Environment => new() { ["DROVER_CHAOS_RUN"] = system.RunMarker.Split('=')[1] };

    private HttpContent Content(JobKind kind, string requestId, string? node, string? script)
    {
        var constraints = node is not null ? new JobConstraints { Node = node } : null;
        switch (kind)
        {
            case JobKind.OneCommand:
                return Json(new JobSpec
                {
                    RequestId = requestId,
                    Commands = [CommandSpec.FromShell(script ?? $"{Line(0)}; sleep 0.5")],
                    Environment = Environment,
                    Constraints = constraints,
                });
            case JobKind.Multi:
                return Json(new JobSpec
                {
                    RequestId = requestId,
                    Commands = [.. Enumerable.Range(0, 3).Select(i => CommandSpec.FromShell($"{Line(i)}; sleep 0.3"))],
                    Environment = Environment,
                    Constraints = constraints,
                });
            case JobKind.Upload:
                var token = Guid.NewGuid().ToString("N");
                var spec = new JobSpec
                {
                    RequestId = requestId,
                    Commands = [CommandSpec.FromShell($"{Line(0)}; grep -qx {token} data.txt")],
                    Environment = Environment,
                    Constraints = new JobConstraints { Node = node, Labels = new Dictionary<string, string> { ["kind"] = ChaosSystem.ProcessorLabel } },
                };
                var form = new MultipartFormDataContent
                {
                    { new StringContent(JsonSerializer.Serialize(spec, DroverJson.Options), Encoding.UTF8, "application/json"), "spec" },
                    { new ByteArrayContent(Encoding.ASCII.GetBytes(token + "\n")), "file", "data.txt" },
                };
                return form;
            case JobKind.Parent:
                // The child's request id is the parent's own: an attempt run again submits the same child, not a second one.
                var child = Path.Combine(system.Directory, "child.sh");
                File.WriteAllText(child, $"{Line(0)}\nsleep 0.3\n");
                var submit = "curl -sS -f -o /dev/null --retry 100 --retry-delay 1 --retry-all-errors --max-time 10 "
                    + "-H \"Authorization: Bearer $DROVER_TOKEN\" "
                    + $"--data-urlencode 'command=sh {child}' --data-urlencode 'request_id={requestId}.child' "
                    + $"--data-urlencode 'env={system.RunMarker}' \"$DROVER_URL/scheduler/jobs/new\"";
                return Json(new JobSpec
                {
                    RequestId = requestId,
                    Commands = [CommandSpec.FromShell(Line(0)), CommandSpec.FromShell($"{Line(1)}; {submit}")],
                    Environment = Environment,
                    Constraints = constraints,
                    WaitForChildren = true,
                });
            default:
                JobSpec Step(params string[] after) => new()
                {
                    Commands = [CommandSpec.FromShell($"{Line(0)}; sleep 0.2")],
                    Environment = Environment,
                    DependsOn = after.Length > 0 ? [.. after.Select(a => new Dependency(a, DependencyCondition.Afterok))] : null,
                    Constraints = constraints,
                };
                return Json(new DagRequest
                {
                    RequestId = requestId,
                    Jobs = new Dictionary<string, JobSpec> { ["a"] = Step(), ["b"] = Step("a"), ["c"] = Step("a"), ["d"] = Step("b", "c") },
                });
        }
    }

    private static StringContent Json<T>(T value) => new(JsonSerializer.Serialize(value, DroverJson.Options), Encoding.UTF8, "application/json");
}
