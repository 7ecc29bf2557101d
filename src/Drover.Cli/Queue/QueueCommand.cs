using System.CommandLine;
using System.Globalization;
using Drover.Cli.Terminal;
using Spectre.Console;

namespace Drover.Cli.Queue;

/// <summary><c>drover queue</c>: the jobs not placed yet, highest priority first, each with why it waits.</summary>
internal static class QueueCommand
{
    public static Command Create()
    {
        var command = new Command("queue", "Jobs not placed yet, highest priority first, and why each waits.");
        command.SetApiAction(async (context, cancellationToken) =>
        {
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
}
