using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Processor.Jobs;

/// <summary>
/// One line of the conversation between the Processor and the <see cref="Supervisor"/> over its Unix socket, as
/// newline-delimited JSON. The Processor asks, the supervisor answers with the same <see cref="Id"/>:
/// <list type="bullet">
/// <item><c>start</c> (argv, env, cwd, log, exit_file) → <c>started</c> with the pid; or with <c>exit_code</c> when
/// the program could not be run (the log says why, as a shell would, and the exit-code file is written); or with
/// <c>error</c> when nothing could be started at all.</item>
/// <item><c>running</c> → <c>running</c> with the commands that still run, each with its exit-code file.</item>
/// </list>
/// And, unasked, <c>exited</c> (pid, exit_code) to every Processor connected, after the exit-code file is written.
/// </summary>
internal sealed record SupervisorMessage
{
    public required string Op { get; init; }
    public long Id { get; init; }
    public IReadOnlyList<string>? Argv { get; init; }
    public IReadOnlyList<string>? Env { get; init; }
    public string? Cwd { get; init; }
    public string? Log { get; init; }
    public string? ExitFile { get; init; }
    public int Pid { get; init; }
    public int? ExitCode { get; init; }
    public string? Error { get; init; }
    public IReadOnlyList<SupervisedCommand>? Running { get; init; }

    public const string Start = "start";
    public const string Started = "started";
    public const string List = "running";
    public const string Exited = "exited";

    public byte[] ToLine()
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(this, SupervisorJson.Default.SupervisorMessage);
        var line = new byte[json.Length + 1];
        json.CopyTo(line, 0);
        line[^1] = (byte)'\n';
        return line;
    }

    public static SupervisorMessage Parse(string line) =>
        JsonSerializer.Deserialize(line, SupervisorJson.Default.SupervisorMessage) ?? throw new JsonException("empty message");
}

/// <summary>A command the supervisor is waiting for.</summary>
internal sealed record SupervisedCommand(int Pid, string ExitFile);

// Source-generated, so the supervisor starts without reflection over the types.
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingDefault)]
[JsonSerializable(typeof(SupervisorMessage))]
internal sealed partial class SupervisorJson : JsonSerializerContext;
