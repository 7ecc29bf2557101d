using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Contracts;

/// <summary>
/// One command of a job: an argv run directly (<c>{"exec": [...]}</c>, also spelled <c>{"command": [...]}</c>
/// as in the seed) or, only when the job asks for it, a line for <c>/bin/sh -c</c> (<c>{"shell": "..."}</c>).
/// </summary>
[JsonConverter(typeof(CommandSpecJsonConverter))]
public sealed record CommandSpec
{
    public IReadOnlyList<string>? Exec { get; init; }
    public string? Shell { get; init; }

    public static CommandSpec FromArgv(params string[] argv) => new() { Exec = argv };
    public static CommandSpec FromShell(string line) => new() { Shell = line };

    /// <summary>The argv a node starts: the exec list itself, or <c>/bin/sh -c line</c>.</summary>
    public IReadOnlyList<string> ToArgv() => Shell is not null ? ["/bin/sh", "-c", Shell] : Exec ?? [];
}

/// <summary>Reads the three spellings strictly, so that a command is never half-understood.</summary>
public sealed class CommandSpecJsonConverter : JsonConverter<CommandSpec>
{
    public override CommandSpec Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        // A bare array is the shortest way to say an argv: ["echo", "hi"].
        if (reader.TokenType == JsonTokenType.StartArray)
            return new CommandSpec { Exec = ReadArgv(ref reader) };
        if (reader.TokenType != JsonTokenType.StartObject)
            throw new JsonException("a command is an object: {\"exec\": [\"program\", \"arg\"]} or {\"shell\": \"line\"}");

        List<string>? exec = null;
        string? shell = null;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndObject)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "exec" or "command":
                    if (exec is not null)
                        throw new JsonException("a command has one argv: give either \"exec\" or \"command\", once");
                    exec = ReadArgv(ref reader);
                    break;
                case "shell":
                    if (reader.TokenType != JsonTokenType.String)
                        throw new JsonException("\"shell\" is a string");
                    shell = reader.GetString();
                    break;
                default:
                    throw new JsonException($"unknown command field \"{name}\": use \"exec\" (or \"command\") or \"shell\"");
            }
        }
        if (exec is not null && shell is not null)
            throw new JsonException("a command is either \"exec\" or \"shell\", not both");
        if (exec is null && shell is null)
            throw new JsonException("a command needs \"exec\" (or \"command\") or \"shell\"");
        return new CommandSpec { Exec = exec, Shell = shell };
    }

    private static List<string> ReadArgv(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw new JsonException("an argv is an array of strings");
        var argv = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.String)
                throw new JsonException("every argv element is a string");
            argv.Add(reader.GetString()!);
        }
        return argv;
    }

    public override void Write(Utf8JsonWriter writer, CommandSpec value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        ArgumentNullException.ThrowIfNull(value);
        writer.WriteStartObject();
        if (value.Shell is not null)
        {
            writer.WriteString("shell", value.Shell);
        }
        else
        {
            writer.WriteStartArray("exec");
            foreach (var arg in value.Exec ?? [])
                writer.WriteStringValue(arg);
            writer.WriteEndArray();
        }
        writer.WriteEndObject();
    }
}
