using System.CommandLine;
using Drover.Cli.Client;
using Drover.Cli.Terminal;
using Drover.Contracts;

namespace Drover.Cli.Events;

/// <summary>
/// <c>drover events [--job ID | --root ID]</c>: the scheduler's event stream, one line an event, until Ctrl-C. A broken
/// stream is joined again after the last event seen, so nothing is missed or repeated.
/// </summary>
internal static class EventsCommand
{
    public static Command Create()
    {
        var job = new Option<long?>("--job") { Description = "Only this job's changes (from what the log still holds of it)." };
        var root = new Option<long?>("--root") { Description = "Only the changes of this DAG's jobs (from what the log still holds of it)." };
        var after = new Option<long?>("--after") { Description = "Start after this event id (the seq of an event seen before)." };
        var command = new Command("events", "Follow job and node changes as they happen.") { job, root, after };
        command.Validators.Add(result =>
        {
            if (result.GetValue(job) is not null && result.GetValue(root) is not null)
                result.AddError("give --job or --root, not both");
        });
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var last = context.Get(after);
            var broken = 0;
            while (true)
            {
                try
                {
                    await foreach (var change in context.Api.EventsAsync(context.Get(job), context.Get(root), last, cancellationToken))
                    {
                        broken = 0;
                        last = Write(context.Output, change);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or IOException && !cancellationToken.IsCancellationRequested && broken < 5)
                {
                    broken++;
                    Output.Note($"drover: the event stream broke ({e.Message}); joining again");
                }
                await Task.Delay(TimeSpan.FromSeconds(broken), cancellationToken);
            }
        });
        return command;
    }

    private static long Write(Output output, object change)
    {
        switch (change)
        {
            case JobEvent e:
                if (output.Json)
                    Output.WriteJsonLine(e);
                else
                    Output.Line($"{e.Seq,6}  {Words.Time(e.At)}  job {e.JobId}  {Words.Of(e.State)} {Words.Of(e.Status)}"
                        + (e.Reason is { } reason ? $" ({Words.Of(reason)})" : "") + (e.Node is { } node ? $" on {node}" : "")
                        + (e.Root is { } r && r != e.JobId ? $"  dag {r}" : ""));
                Console.Out.Flush();
                return e.Seq;
            case NodeEvent n:
                if (output.Json)
                    Output.WriteJsonLine(n);
                else
                    Output.Line($"{n.Seq,6}  {Words.Time(n.At)}  node {n.Node}  {n.Change}");
                Console.Out.Flush();
                return n.Seq;
            default:
                throw new ArgumentException("not an event", nameof(change));
        }
    }
}
