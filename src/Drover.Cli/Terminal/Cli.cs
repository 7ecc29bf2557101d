using System.CommandLine;
using Drover.Cli.Client;

namespace Drover.Cli.Terminal;

/// <summary>What every command's exit code means, so that scripts can tell a failed job from a refused call.</summary>
internal static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>The job, the DAG or one of the jobs waited for ended in error (or the wait gave up).</summary>
    public const int JobFailed = 1;

    /// <summary>The command line is wrong.</summary>
    public const int Usage = 2;

    /// <summary>Drover refused the call (a problem+json answer: unknown job, bad field, no permission, ...).</summary>
    public const int Refused = 3;

    /// <summary>Drover could not be reached, or did not answer in time.</summary>
    public const int Unreachable = 4;

    public const int Interrupted = 130;
}

/// <summary>The options every command takes, wherever they stand on the line.</summary>
internal static class GlobalOptions
{
    public static readonly Option<string?> Url = new("--url")
    {
        Description = "Gateway (or scheduler) URL. Default: $DROVER_URL, else " + DroverClient.DefaultUrl + ".",
        Recursive = true,
    };

    public static readonly Option<string?> Token = new("--token")
    {
        Description = "API key or job token. Default: $DROVER_TOKEN.",
        Recursive = true,
    };

    public static readonly Option<bool> Json = new("--json")
    {
        Description = "Write JSON (the API's own shapes) instead of tables; streams write one JSON object a line.",
        Recursive = true,
    };
}

/// <summary>Options whose values are one of an enum's, spelled as the API spells them (<c>--state running</c>) and completed so.</summary>
internal static class WordOptions
{
    public static Option<T?> Create<T>(string name, string description) where T : struct, Enum
    {
        var option = new Option<T?>(name)
        {
            Description = description + " One of: " + string.Join(", ", Enum.GetValues<T>().Select(v => Words.Of(v))) + ".",
            CustomParser = result =>
            {
                var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
                foreach (var value in Enum.GetValues<T>())
                    if (string.Equals(Words.Of(value), text, StringComparison.OrdinalIgnoreCase))
                        return value;
                result.AddError($"'{text}' is not one of {string.Join(", ", Enum.GetValues<T>().Select(v => Words.Of(v)))}");
                return null;
            },
        };
        option.CompletionSources.Clear();
        option.CompletionSources.Add(Enum.GetValues<T>().Select(v => Words.Of(v)).ToArray());
        return option;
    }
}

/// <summary>What a command's action gets: its parse result, the API, and where to write.</summary>
internal sealed record CommandContext(ParseResult Parse, DroverApi Api, Output Output)
{
    public T? Get<T>(Option<T> option) => Parse.GetValue(option);
    public T? Get<T>(Argument<T> argument) => Parse.GetValue(argument);
}

internal static class CommandActions
{
    /// <summary>
    /// Sets an action that talks to Drover: a refused call prints the problem's title, detail and fields on stderr and
    /// exits <see cref="ExitCodes.Refused"/>; no answer exits <see cref="ExitCodes.Unreachable"/>.
    /// </summary>
    public static void SetApiAction(this Command command, Func<CommandContext, CancellationToken, Task<int>> action) =>
        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = new Output(parse.GetValue(GlobalOptions.Json));
            DroverApi api;
            try
            {
                api = DroverApi.Create(parse.GetValue(GlobalOptions.Url), parse.GetValue(GlobalOptions.Token));
            }
            catch (ArgumentException e)
            {
                output.Error(e.Message);
                return ExitCodes.Usage;
            }
            using (api)
            {
                try
                {
                    return await action(new CommandContext(parse, api, output), cancellationToken);
                }
                catch (ApiProblem problem)
                {
                    output.Problem(problem);
                    return ExitCodes.Refused;
                }
                catch (HttpRequestException e)
                {
                    output.Error($"{api.BaseAddress}: {e.Message}");
                    return ExitCodes.Unreachable;
                }
                catch (IOException e) when (!cancellationToken.IsCancellationRequested)
                {
                    output.Error($"{api.BaseAddress}: the connection broke: {e.Message}");
                    return ExitCodes.Unreachable;
                }
                catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
                {
                    return ExitCodes.Interrupted;
                }
            }
        });
}
