using System.Text.RegularExpressions;

namespace Drover.Contracts;

/// <summary>
/// The rules every service applies to a job before it writes anything. Each returns problems keyed by the
/// JSON field they concern, ready for an RFC 7807 validation problem.
/// </summary>
public static partial class JobRules
{
    public const int MaxNameLength = 128;

    /// <summary>
    /// The longest timeout every node honours: 30 days. The Processor's timer takes at most about 49 days, and a
    /// timeout past what a node can arm would fail every attempt of the job.
    /// </summary>
    public const double MaxTimeoutSeconds = 30 * 24 * 3600;

    /// <summary>
    /// A request id or file name becomes a directory or file name on a node: letters, digits, <c>._-</c>, not starting
    /// with a dot. <c>\z</c>, not <c>$</c>: <c>$</c> also matches before a final newline, which would let <c>"a\n"</c> through.
    /// </summary>
    [GeneratedRegex(@"\A[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}\z", RegexOptions.CultureInvariant)]
    private static partial Regex SafeName();

    [GeneratedRegex(@"\A[A-Za-z_][A-Za-z0-9_]*\z", RegexOptions.CultureInvariant)]
    private static partial Regex EnvironmentName();

    public static bool IsSafeName(string? name) => name is not null && SafeName().IsMatch(name);

    public static Dictionary<string, string[]> Check(NodeJobRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var problems = new Dictionary<string, string[]>();
        CheckCommands(request.Commands, problems);
        CheckEnvironment(request.Environment, problems);
        if (request.RequestId is not null && !IsSafeName(request.RequestId))
            problems["request_id"] = [$"request_id must be 1-{MaxNameLength} characters of letters, digits, '.', '_' or '-', not starting with '.'"];
        if (TimeoutProblem(request.TimeoutSeconds) is { } timeout)
            problems["timeout_seconds"] = [timeout];
        return problems;
    }

    /// <summary>What is wrong with a timeout, or null: a positive number of seconds, at most <see cref="MaxTimeoutSeconds"/>.</summary>
    public static string? TimeoutProblem(double? seconds) =>
        seconds is { } t && (t <= 0 || double.IsNaN(t) || double.IsInfinity(t) || t > MaxTimeoutSeconds)
            ? $"timeout_seconds must be a positive number of seconds, at most {MaxTimeoutSeconds:0} (30 days)"
            : null;

    public static void CheckCommands(IReadOnlyList<CommandSpec>? commands, Dictionary<string, string[]> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        if (commands is null || commands.Count == 0)
        {
            problems["commands"] = ["at least one command is required, e.g. [{\"exec\": [\"echo\", \"hello\"]}]"];
            return;
        }
        for (var i = 0; i < commands.Count; i++)
        {
            var command = commands[i];
            if (command.Shell is { } shell && string.IsNullOrWhiteSpace(shell))
                problems[$"commands[{i}].shell"] = ["a shell line must not be empty"];
            else if (command.Shell is null && (command.Exec is null || command.Exec.Count == 0 || string.IsNullOrEmpty(command.Exec[0])))
                problems[$"commands[{i}].exec"] = ["an argv needs at least a program name"];
            else if (command.ToArgv().Any(a => a.Contains('\0', StringComparison.Ordinal)))
                problems[$"commands[{i}]"] = ["arguments cannot contain NUL characters"];
        }
    }

    public static void CheckEnvironment(IReadOnlyDictionary<string, string>? environment, Dictionary<string, string[]> problems)
    {
        ArgumentNullException.ThrowIfNull(problems);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            if (!EnvironmentName().IsMatch(name))
                problems[$"environment.{name}"] = ["environment variable names are letters, digits and '_', not starting with a digit"];
            else if (value is null)
                problems[$"environment.{name}"] = ["environment values are strings"];
            else if (value.Contains('\0', StringComparison.Ordinal))
                problems[$"environment.{name}"] = ["environment values cannot contain NUL characters"];
        }
    }

    /// <summary>An uploaded file's name, kept only if it stays inside the job's working directory as one plain file.</summary>
    public static string? CheckFileName(string? fileName) =>
        IsSafeName(fileName) ? null : $"file name '{fileName}' must be 1-{MaxNameLength} characters of letters, digits, '.', '_' or '-', not starting with '.' (no paths)";
}
