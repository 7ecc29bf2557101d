using System.CommandLine;
using System.Globalization;
using Drover.Cli.Client;
using Drover.Cli.Terminal;
using Drover.Contracts;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Drover.Cli.Jobs;

/// <summary><c>drover jobs</c>, <c>status</c>, <c>show</c>, <c>logs</c>, <c>kill</c>, <c>retry</c>: one job, or many, as the API has them.</summary>
internal static class JobCommands
{
    public static Command Jobs()
    {
        var state = WordOptions.Create<JobState>("--state", "Only jobs in this state.");
        var status = WordOptions.Create<JobStatus>("--status", "Only jobs with this status.");
        var node = new Option<string?>("--node") { Description = "Only jobs on this node." };
        var parent = new Option<long?>("--parent") { Description = "Only the children of this job." };
        var limit = new Option<int>("--limit", "-n") { Description = "How many of the newest jobs to list.", DefaultValueFactory = _ => 50 };
        limit.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 1)
                result.AddError("--limit is 1 or more");
        });
        var command = new Command("jobs", "List jobs, newest first.") { state, status, node, parent, limit };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var query = new JobListQuery(context.Get(state), context.Get(status), context.Get(node), context.Get(parent));
            var newest = await NewestAsync(context.Api, query, context.Get(limit), cancellationToken);
            if (context.Output.Json)
            {
                Output.WriteJson(new JobPage { Jobs = newest });
                return ExitCodes.Ok;
            }
            var table = Output.Table("ID", "STATE", "STATUS", "REASON", "NODE", "ATTEMPTS", "CREATED", "PARENT");
            foreach (var job in newest)
                table.AddRow(Output.Cell(Words.Id(job.JobId)), Output.StateCell(job.State), Output.StatusCell(job.Status),
                    Output.Cell(Words.Of(job.Reason)), Output.Cell(job.Node), Output.Cell(job.Attempts.ToString(CultureInfo.InvariantCulture)),
                    Output.Cell(Words.Time(job.CreatedAt)), Output.Cell(job.Parent is { } p ? Words.Id(p) : ""));
            context.Output.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// The newest <paramref name="limit"/> jobs that match, newest first. The API pages by id upwards, so this reads
    /// every page and keeps the last ones (a page holds 10,000 jobs).
    /// </summary>
    private static async Task<List<JobStatusView>> NewestAsync(DroverApi api, JobListQuery query, int limit, CancellationToken cancellationToken)
    {
        const int Page = 10_000;
        var kept = new Queue<JobStatusView>(Math.Min(limit, Page));
        long after = 0;
        while (true)
        {
            var page = await api.ListJobsAsync(query, after, Page, cancellationToken);
            foreach (var job in page.Jobs)
            {
                if (kept.Count == limit)
                    kept.Dequeue();
                kept.Enqueue(job);
            }
            if (page.Next is null || page.Jobs.Count == 0)
                break;
            after = page.Jobs[^1].JobId;
        }
        return kept.Reverse().ToList();
    }

    public static Command Status()
    {
        var ids = new Argument<long[]>("id") { Description = "Job ids.", Arity = ArgumentArity.OneOrMore };
        var refresh = new Option<bool>("--refresh") { Description = "Ask each job's node now instead of reading what the scheduler last heard." };
        var command = new Command("status", "The status of jobs: state, status, reason, node, times.") { ids, refresh };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var views = new List<JobStatusView>();
            var missing = 0;
            foreach (var id in context.Get(ids)!)
            {
                try
                {
                    views.Add(context.Get(refresh)
                        ? await context.Api.RefreshAsync(id, cancellationToken)
                        : await context.Api.GetStatusAsync(id, cancellationToken));
                }
                catch (ApiProblem problem) when (problem.Status == System.Net.HttpStatusCode.NotFound)
                {
                    context.Output.Problem(problem);
                    missing++;
                }
            }
            if (context.Output.Json)
            {
                Output.WriteJson(views);
            }
            else if (views.Count > 0)
            {
                var table = Output.Table("ID", "STATE", "STATUS", "REASON", "EXIT", "NODE", "ATTEMPTS", "STARTED", "FINISHED", "MESSAGE");
                foreach (var job in views)
                    table.AddRow(Output.Cell(Words.Id(job.JobId)), Output.StateCell(job.State), Output.StatusCell(job.Status),
                        Output.Cell(Words.Of(job.Reason)), Output.Cell(job.ExitCode?.ToString(CultureInfo.InvariantCulture)), Output.Cell(job.Node),
                        Output.Cell(job.Attempts.ToString(CultureInfo.InvariantCulture)), Output.Cell(Words.Time(job.StartedAt)),
                        Output.Cell(Words.Time(job.FinishedAt)), Output.Cell(job.Message ?? job.QueueReason));
                context.Output.Write(table);
            }
            return missing > 0 ? ExitCodes.Refused : ExitCodes.Ok;
        });
        return command;
    }

    public static Command Show()
    {
        var id = new Argument<long>("id") { Description = "Job id." };
        var command = new Command("show", "A job's whole record: its commands, attempts, parent, children and dependencies.") { id };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var job = await context.Api.GetJobAsync(context.Get(id), cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(job);
            else
                context.Output.Write(Record(job));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Rows Record(JobRecord job)
    {
        var facts = new Grid().AddColumn(new GridColumn().PadRight(2)).AddColumn();
        void Fact(string name, string? value)
        {
            if (!string.IsNullOrEmpty(value))
                facts.AddRow(new Text(name, new Style(decoration: Decoration.Bold)), new Text(value));
        }
        Fact("job", Words.Id(job.Id));
        Fact("request id", job.RequestId);
        Fact("state", Words.Of(job.State));
        Fact("status", Words.Of(job.Status) + (job.Reason is { } reason ? $" ({Words.Of(reason)})" : ""));
        Fact("exit code", job.ExitCode?.ToString(CultureInfo.InvariantCulture));
        Fact("node", job.Node);
        Fact("waiting", job.QueueReason);
        Fact("priority", job.Priority.ToString(CultureInfo.InvariantCulture));
        Fact("attempts", $"{job.Attempts.Count} of {job.MaxAttempts}");
        Fact("created", Words.Time(job.CreatedAt));
        Fact("finished", Words.Time(job.FinishedAt));
        Fact("root", job.Root is { } root && root != job.Id ? Words.Id(root) : null);
        Fact("parent", job.Parent is { } parent ? Words.Id(parent) : null);
        Fact("children", Words.Ids(job.Children));
        Fact("depends on", string.Join(' ', job.DependsOn.Select(d => $"{d.Job}:{Words.Of(d.Condition)}")));
        Fact("dependents", string.Join(' ', job.Dependents.Select(d => $"{d.Job}:{Words.Of(d.Condition)}")));
        if (job.WaitingOn > 0)
            Fact("waiting on", $"{job.WaitingOn} dependencies");
        if (job.AwaitingChildren)
            Fact("awaiting", "its children (wait_for_children)");
        for (var i = 0; i < job.Spec.Commands.Count; i++)
            Fact(i == 0 ? "commands" : "", Argv(job.Spec.Commands[i]));
        foreach (var (name, value) in job.Spec.Environment)
            Fact(name == job.Spec.Environment.Keys.First() ? "environment" : "", $"{name}={value}");
        Fact("timeout", job.Spec.TimeoutSeconds is { } t ? t.ToString(CultureInfo.InvariantCulture) + " s" : null);
        Fact("constraints", job.Spec.Constraints is { } c
            ? string.Join(' ', new[] { c.Node is { } n ? "node=" + n : null }.Concat(c.Labels.Select(l => $"{l.Key}={l.Value}")).OfType<string>())
            : null);
        Fact("files", string.Join(' ', job.Spec.Files));

        var parts = new List<IRenderable> { facts };
        if (job.Attempts.Count > 0)
        {
            var attempts = Output.Table("ATTEMPT", "NODE", "STATE", "STATUS", "REASON", "EXIT", "PLACED", "STARTED", "FINISHED", "MESSAGE");
            foreach (var a in job.Attempts)
                attempts.AddRow(Output.Cell(a.Number.ToString(CultureInfo.InvariantCulture)), Output.Cell(a.Node), Output.StateCell(a.State),
                    Output.StatusCell(a.Status), Output.Cell(Words.Of(a.Reason)), Output.Cell(a.ExitCode?.ToString(CultureInfo.InvariantCulture)),
                    Output.Cell(Words.Time(a.PlacedAt)), Output.Cell(Words.Time(a.StartedAt)), Output.Cell(Words.Time(a.FinishedAt)), Output.Cell(a.Message));
            parts.Add(new Text(""));
            parts.Add(attempts);
        }
        return new Rows(parts);
    }

    /// <summary>An argv as a shell would read it back: words with spaces or quotes are quoted.</summary>
    private static string Argv(CommandSpec command) => command.Shell is { } line ? "sh -c " + Quote(line)
        : string.Join(' ', (command.Exec ?? []).Select(Quote));

    private static string Quote(string word) =>
        word.Length > 0 && word.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:,@%+".Contains(c, StringComparison.Ordinal))
            ? word
            : "'" + word.Replace("'", "'\\''", StringComparison.Ordinal) + "'";

    public static Command Logs()
    {
        var id = new Argument<long>("id") { Description = "Job id." };
        var follow = new Option<bool>("--follow", "-f") { Description = "Keep writing the log as it grows, until the job stops." };
        var offset = new Option<long>("--offset") { Description = "Start at this byte of the log." };
        offset.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<long>() < 0)
                result.AddError("--offset is a byte position, 0 or more");
        });
        var command = new Command("logs", "A job's output (its latest attempt's), from its node.") { id, follow, offset };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var job = context.Get(id);
            if (!context.Get(follow))
            {
                await LogCopy.CopyAsync(context.Api, job, context.Get(offset), follow: false, context.Output.Json, cancellationToken);
                return ExitCodes.Ok;
            }
            if (context.Get(offset) > 0)
            {
                await LogCopy.CopyAsync(context.Api, job, context.Get(offset), follow: true, context.Output.Json, cancellationToken);
                return ExitCodes.Ok;
            }
            var ended = await LogCopy.FollowAsync(context.Api, job, context.Output.Json, cancellationToken);
            return ended.Status == JobStatus.Good ? ExitCodes.Ok : ExitCodes.JobFailed;
        });
        return command;
    }

    public static Command Kill()
    {
        var id = new Argument<long>("id") { Description = "Job id." };
        var descendants = new Option<bool>("--descendants") { Description = "Kill its children and the jobs that depend on it first, all the way down." };
        var command = new Command("kill", "Stop a job wherever it is, queued or running.") { id, descendants };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var job = await context.Api.KillAsync(context.Get(id), context.Get(descendants), cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(job);
            else
                Output.Line(job.State == JobState.Stopped
                    ? $"job {job.JobId}: {Words.Outcome(job)}"
                    : $"job {job.JobId}: the kill is recorded and reaches node {job.Node} when it can be told");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Retry()
    {
        var id = new Argument<long>("id") { Description = "Job id of a job that failed." };
        var command = new Command("retry", "Queue a failed job again, with the jobs that stopped only because of it.") { id };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var answer = await context.Api.RetryAsync(context.Get(id), cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(answer);
            else
                Output.Line($"queued again: {Words.Ids(answer.Requeued)}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
