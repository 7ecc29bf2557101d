using System.CommandLine;
using System.Globalization;
using Drover.Cli.Terminal;
using Spectre.Console;

namespace Drover.Cli.Queue;

/// <summary>
/// <c>drover queue [ID]</c>: the jobs not placed yet, highest priority first, each with why it waits (or one job);
/// <c>drover cancel ID</c>: take a job out of the queue.
/// </summary>
internal static class QueueCommand
{
    public static Command Create()
    {
        var id = new Argument<long?>("id") { Description = "One job: is it still queued, and why.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("queue", "Jobs not placed yet, highest priority first, and why each waits.") { id };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            if (context.Get(id) is { } one)
            {
                var entry = await context.Api.GetQueueEntryAsync(one, cancellationToken);
                if (context.Output.Json)
                    Output.WriteJson(entry);
                else
                    Output.Line($"job {entry.JobId}: {(entry.Queued ? "queued, " : "")}{entry.Reason}");
                return ExitCodes.Ok;
            }
            var queue = await context.Api.GetQueueAsync(cancellationToken);
            if (context.Output.Json)
            {
                Output.WriteJson(queue);
                return ExitCodes.Ok;
            }
            var now = DateTimeOffset.UtcNow;
            var table = Output.Table("ID", "PRIORITY", "ATTEMPTS", "WAITING", "NOT BEFORE", "WHY");
            foreach (var job in queue.Jobs)
                table.AddRow(Output.Cell(Words.Id(job.JobId)), Output.Cell(job.Priority.ToString(CultureInfo.InvariantCulture)),
                    Output.Cell(job.Attempts.ToString(CultureInfo.InvariantCulture)), Output.Cell(Words.Age(job.CreatedAt, now)),
                    Output.Cell(job.NotBefore is { } t && t > now ? Words.Time(t) : ""), Output.Cell(job.Reason));
            context.Output.Write(table);
            if (queue.Jobs.Count == 0)
                Output.Note("drover: the queue is empty");
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Cancel()
    {
        var id = new Argument<long>("id") { Description = "A job still in the queue." };
        var command = new Command("cancel", "Take a job out of the queue before it is placed (it stops as cancelled); kill stops one already placed.") { id };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var entry = await context.Api.CancelAsync(context.Get(id), cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(entry);
            else
                Output.Line($"job {entry.JobId}: {entry.Reason}");
            return ExitCodes.Ok;
        });
        return command;
    }
}
