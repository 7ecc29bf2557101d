using System.Text.Json;
using Drover.Cli.Client;
using Drover.Contracts;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Drover.Cli.Terminal;

/// <summary>
/// Where a command writes: tables and trees for a person (Spectre.Console, colour only on a terminal), or with
/// <c>--json</c> the API's own shapes for a script. Results go to stdout; progress, notes and errors to stderr.
/// </summary>
internal sealed class Output
{
    private static readonly JsonSerializerOptions Indented = new(DroverJson.Options) { WriteIndented = true };

    public Output(bool json)
    {
        Json = json;
        Console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(System.Console.Out) });
        // Piped into a file or another program there is no terminal width; don't cut columns at 80.
        if (System.Console.IsOutputRedirected)
            Console.Profile.Width = 200;
    }

    public bool Json { get; }

    /// <summary>stdout, as Spectre.Console draws on it.</summary>
    public IAnsiConsole Console { get; }

    public static bool ErrorIsTerminal => !System.Console.IsErrorRedirected;

    public static void WriteJson<T>(T value) => System.Console.Out.WriteLine(JsonSerializer.Serialize(value, Indented));

    /// <summary>One JSON object on one line: the unit of every stream (<c>events</c>, <c>logs -f</c>, <c>dag --watch</c>).</summary>
    public static void WriteJsonLine<T>(T value)
    {
        System.Console.Out.WriteLine(JsonSerializer.Serialize(value, DroverJson.Options));
        System.Console.Out.Flush();
    }

    public void Write(IRenderable renderable) => Console.Write(renderable);

    public static void Line(string text) => System.Console.Out.WriteLine(text);

    public static void Note(string text) => System.Console.Error.WriteLine(text);

    public void Error(string message)
    {
        if (Json)
            System.Console.Error.WriteLine(JsonSerializer.Serialize(new { title = message }, DroverJson.Options));
        else
            System.Console.Error.WriteLine("drover: " + message);
    }

    /// <summary>A refused call: its title and detail, then each field that is wrong and why.</summary>
    public void Problem(ApiProblem problem)
    {
        if (Json)
        {
            System.Console.Error.WriteLine(JsonSerializer.Serialize(
                new { status = (int)problem.Status, title = problem.Title, detail = problem.Detail, errors = problem.Errors }, DroverJson.Options));
            return;
        }
        System.Console.Error.WriteLine($"drover: {problem.Title}" + (problem.Detail is { Length: > 0 } detail ? $": {detail}" : ""));
        foreach (var (field, messages) in problem.Errors)
            foreach (var message in messages)
                System.Console.Error.WriteLine($"  {field}: {message}");
    }

    /// <summary>A table in the style of <c>squeue</c> and <c>kubectl get</c>: a header row, no borders.</summary>
    public static Table Table(params string[] headers)
    {
        var table = new Table().NoBorder().HideRowSeparators();
        table.ShowHeaders = true;
        foreach (var header in headers)
            table.AddColumn(new TableColumn(new Text(header, new Style(decoration: Decoration.Bold))).PadLeft(0).PadRight(2));
        return table;
    }

    public static IRenderable Cell(string? text) => new Text(text ?? "");

    public static IRenderable StateCell(JobState state) =>
        new Text(Words.Of(state), new Style(state is JobState.Placed or JobState.Running ? Color.Yellow : Color.Default));

    public static IRenderable StatusCell(JobStatus status) =>
        new Text(Words.Of(status), new Style(status switch { JobStatus.Good => Color.Green, JobStatus.Error => Color.Red, _ => Color.Grey }));
}
