using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using Drover.Cli.Terminal;
using Drover.Contracts;

namespace Drover.Cli.Jobs;

/// <summary>
/// <c>drover submit [options] -- PROGRAM ARGS...</c>: submits one job and prints its id alone on stdout
/// (<c>id=$(drover submit -- make)</c>). With <c>--wait</c> it exits 0 once the job ended good, 1 otherwise; with
/// <c>--follow</c> stdout is the job's log as it is written (the id goes to stderr). Inside a job
/// (<c>DROVER_URL</c>, <c>DROVER_TOKEN</c>) it needs no flags, and the job it submits records the caller as its parent.
/// </summary>
internal static class SubmitCommand
{
    public static Command Create()
    {
        var argv = new Argument<string[]>("command")
        {
            Description = "The program and its arguments, after --; run from an argv, no shell (use -- sh -c '...' for one).",
            Arity = ArgumentArity.OneOrMore,
        };
        var environment = new Option<Dictionary<string, string>>("--env", "-e")
        {
            Description = "An environment variable for the job, NAME=value (repeat for more).",
            Arity = ArgumentArity.ZeroOrMore,
            CustomParser = result => Pairs(result, "NAME=value"),
        };
        var files = new Option<FileInfo[]>("--file")
        {
            Description = "A file uploaded into the job's working directory (repeat for more).",
            Arity = ArgumentArity.ZeroOrMore,
        }.AcceptExistingOnly();
        var after = new Option<List<Dependency>>("--after")
        {
            Description = "Run after job ID: ID, ID:afterok (the default), ID:afternotok or ID:afterany (repeat for more).",
            Arity = ArgumentArity.ZeroOrMore,
            CustomParser = Dependencies,
        };
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "Kill each attempt after this long: seconds (90), or 10m, 2h, hh:mm:ss.",
            CustomParser = Durations.Parse,
        };
        var attempts = new Option<int?>("--attempts") { Description = "How many attempts the job may have (max_attempts; default 3)." };
        var labels = new Option<Dictionary<string, string>>("--label", "-l")
        {
            Description = "Run only on nodes with this label, key=value (repeat for more).",
            Arity = ArgumentArity.ZeroOrMore,
            CustomParser = result => Pairs(result, "key=value"),
        };
        var node = new Option<string?>("--node") { Description = "Run only on the node of this name." };
        var priority = new Option<int?>("--priority") { Description = "Higher goes first (default 0)." };
        var requestId = new Option<string?>("--request-id") { Description = "Idempotency key: submitting the same one again gives the same job." };
        var parent = new Option<long?>("--parent") { Description = "The job this one belongs to (a job's own token sets it without this)." };
        var waitForChildren = new Option<bool>("--wait-for-children") { Description = "Stay running until the jobs it submits have stopped; good only if they all ended good." };
        var wait = new Option<bool>("--wait") { Description = "Wait until the job stops: exit 0 when it ended good, 1 otherwise." };
        var follow = new Option<bool>("--follow") { Description = "Write the job's log to stdout while it runs (the id goes to stderr); exit as --wait." };

        var command = new Command("submit", "Submit a job: drover submit [options] -- PROGRAM ARGS...")
        {
            argv, environment, files, after, timeout, attempts, labels, node, priority, requestId, parent, waitForChildren, wait, follow,
        };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var constraints = context.Get(labels) is { Count: > 0 } || context.Get(node) is not null
                ? new JobConstraints { Node = context.Get(node), Labels = context.Get(labels) ?? [] }
                : null;
            var spec = new JobSpec
            {
                Commands = [CommandSpec.FromArgv(context.Get(argv)!)],
                Environment = context.Get(environment) ?? [],
                RequestId = context.Get(requestId),
                TimeoutSeconds = context.Get(timeout)?.TotalSeconds,
                MaxAttempts = context.Get(attempts),
                Priority = context.Get(priority) ?? 0,
                Constraints = constraints,
                DependsOn = context.Get(after) is { Count: > 0 } dependencies ? dependencies : null,
                Parent = context.Get(parent),
                WaitForChildren = context.Get(waitForChildren),
            };
            var answer = await context.Api.SubmitAsync(spec, context.Get(files) ?? [], cancellationToken);
            var output = context.Output;
            if (context.Get(follow))
            {
                Output.Note($"drover: submitted job {answer.JobId}");
                var ended = await LogCopy.FollowAsync(context.Api, answer.JobId, output.Json, cancellationToken);
                return Ended(output, ended);
            }
            if (!context.Get(wait))
            {
                if (output.Json)
                    Output.WriteJson(answer);
                else
                    Output.Line(Words.Id(answer.JobId));
                return ExitCodes.Ok;
            }
            if (!output.Json)
                Output.Line(Words.Id(answer.JobId));
            return Ended(output, await JobWaiter.UntilStoppedAsync(context.Api, answer.JobId, cancellationToken));
        });
        return command;
    }

    /// <summary>The job's end: its status (as JSON, or a note on stderr), and 0 only when it ended good.</summary>
    private static int Ended(Output output, JobStatusView job)
    {
        if (output.Json)
            Output.WriteJsonLine(job);
        else
            Output.Note($"drover: job {job.JobId}: {Words.Outcome(job)}");
        return job.Status == JobStatus.Good ? ExitCodes.Ok : ExitCodes.JobFailed;
    }

    public static Dictionary<string, string> Pairs(ArgumentResult result, string shape)
    {
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var token in result.Tokens)
        {
            if (token.Value.Split('=', 2) is [{ Length: > 0 } key, var value])
                pairs[key] = value;
            else
                result.AddError($"'{token.Value}' is not {shape}");
        }
        return pairs;
    }

    /// <summary><c>12</c>, <c>12:afterany</c>, or Slurm's own order <c>afterany:12</c>.</summary>
    private static List<Dependency> Dependencies(ArgumentResult result)
    {
        var dependencies = new List<Dependency>();
        foreach (var token in result.Tokens)
        {
            var parts = token.Value.Split(':', 2);
            var (idText, conditionText) = parts.Length == 1 ? (parts[0], "afterok")
                : long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out _) ? (parts[0], parts[1]) : (parts[1], parts[0]);
            if (long.TryParse(idText, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0
                && Enum.TryParse<DependencyCondition>(conditionText, ignoreCase: true, out var condition) && !conditionText.Any(char.IsDigit))
                dependencies.Add(Dependency.On(id, condition));
            else
                result.AddError($"'{token.Value}' is not ID[:afterok|afternotok|afterany]");
        }
        return dependencies;
    }
}
