using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Contracts;

/// <summary>When a dependency is met, as Slurm spells it.</summary>
public enum DependencyCondition
{
    /// <summary>The job it waits for ended good (the default).</summary>
    Afterok,

    /// <summary>The job it waits for ended in error: for clean-up and alerts.</summary>
    Afternotok,

    /// <summary>The job it waits for stopped, however it ended.</summary>
    Afterany,
}

/// <summary>
/// One edge of <c>depends_on</c>: <c>12</c>, <c>"name"</c> (in a DAG request) or <c>{"job": 12, "condition": "afterany"}</c>.
/// <see cref="Job"/> is a job id, or in a DAG request the name of another job of the request.
/// </summary>
[JsonConverter(typeof(DependencyConverter))]
public sealed record Dependency(string Job, DependencyCondition Condition = DependencyCondition.Afterok)
{
    public static Dependency On(long job, DependencyCondition condition = DependencyCondition.Afterok) =>
        new(job.ToString(CultureInfo.InvariantCulture), condition);

    /// <summary>The job id, when <see cref="Job"/> is one.</summary>
    public long? JobId => long.TryParse(Job, NumberStyles.None, CultureInfo.InvariantCulture, out var id) ? id : null;
}

/// <summary>Reads the three spellings of a dependency; writes the object form (ids as numbers).</summary>
public sealed class DependencyConverter : JsonConverter<Dependency>
{
    public override Dependency Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.Number:
                return new Dependency(reader.GetInt64().ToString(CultureInfo.InvariantCulture));
            case JsonTokenType.String:
                return new Dependency(reader.GetString()!);
            case JsonTokenType.StartObject:
                string? job = null;
                var condition = DependencyCondition.Afterok;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
                {
                    var name = reader.GetString();
                    reader.Read();
                    switch (name)
                    {
                        case "job":
                            job = reader.TokenType == JsonTokenType.Number ? reader.GetInt64().ToString(CultureInfo.InvariantCulture)
                                : reader.TokenType == JsonTokenType.String ? reader.GetString()
                                : throw new JsonException("job is a job id or a job's name");
                            break;
                        case "condition":
                            condition = reader.TokenType == JsonTokenType.String && reader.GetString() is { } word
                                && Enum.TryParse<DependencyCondition>(word, ignoreCase: true, out var parsed) && !int.TryParse(word, out _)
                                ? parsed
                                : throw new JsonException("condition is one of afterok, afternotok, afterany");
                            break;
                        default:
                            reader.Skip();
                            break;
                    }
                }
                return new Dependency(job ?? throw new JsonException("a dependency needs \"job\""), condition);
            default:
                throw new JsonException("a dependency is a job id, a name, or {\"job\": ..., \"condition\": ...}");
        }
    }

    public override void Write(Utf8JsonWriter writer, Dependency value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartObject();
        if (value.JobId is { } id)
            writer.WriteNumber("job", id);
        else
            writer.WriteString("job", value.Job);
        writer.WriteString("condition", value.Condition.ToString().ToLowerInvariant());
        writer.WriteEndObject();
    }
}

/// <summary>
/// <c>POST /scheduler/dags/new</c>: named jobs whose <c>depends_on</c> name each other (or existing job ids), created all
/// or none. <c>{"jobs": {"fetch": {"commands": [...]}, "build": {"commands": [...], "depends_on": ["fetch"]}}}</c>.
/// </summary>
public sealed record DagRequest
{
    public IReadOnlyDictionary<string, JobSpec> Jobs { get; init; } = new Dictionary<string, JobSpec>();

    /// <summary>The client's idempotency key for the whole DAG: its jobs get request ids <c>&lt;request_id&gt;.&lt;name&gt;</c>.</summary>
    public string? RequestId { get; init; }
}

/// <summary>The answer to a DAG request: the id of each job by its name.</summary>
public sealed record DagAnswer
{
    public IReadOnlyDictionary<string, long> Jobs { get; init; } = new Dictionary<string, long>();
    public long Root { get; init; }
    public required string Href { get; init; }
}

/// <summary><c>POST /scheduler/jobs/{id}/retry</c>: the jobs queued again, the failed job first.</summary>
public sealed record RetryAnswer(long JobId, IReadOnlyList<long> Requeued);

/// <summary>An edge of a DAG: <c>child</c> from a parent to a job it called, or a dependency from a job to the one waiting for it.</summary>
public sealed record DagEdge(long From, long To, string Kind);

/// <summary><c>GET /scheduler/jobs/{id}/dag</c>: every job connected to the job's root ancestor, and the DAG's overall state.</summary>
public sealed record DagView
{
    public long Root { get; init; }

    /// <summary><c>running</c> while any job has not stopped, then <c>stopped</c>.</summary>
    public JobState State { get; init; }

    /// <summary><c>good</c> once every job ended good or was skipped; <c>error</c> once any other ended; <c>unknown</c> before.</summary>
    public JobStatus Status { get; init; }
    public IReadOnlyList<JobStatusView> Jobs { get; init; } = [];
    public IReadOnlyList<DagEdge> Edges { get; init; } = [];
}

/// <summary>One change, as <c>GET /scheduler/events</c> sends it (the SSE <c>id:</c> is <see cref="Seq"/>).</summary>
public sealed record JobEvent
{
    public long Seq { get; init; }

    /// <summary><c>job</c> for a job's change of state.</summary>
    public string Kind { get; init; } = "job";
    public DateTimeOffset At { get; init; }
    public long JobId { get; init; }
    public long? Root { get; init; }
    public long? Parent { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public StopReason? Reason { get; init; }
    public string? Node { get; init; }
}

/// <summary>A node's change, as <c>GET /scheduler/events</c> sends it unfiltered (<c>event: node</c>).</summary>
public sealed record NodeEvent
{
    public long Seq { get; init; }
    public string Kind { get; init; } = "node";
    public DateTimeOffset At { get; init; }
    public required string Node { get; init; }

    /// <summary><c>registered</c> (a new node, or its info changed), <c>drained</c>, <c>undrained</c>.</summary>
    public required string Change { get; init; }
}
