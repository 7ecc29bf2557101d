using System.CommandLine;
using System.Threading.Channels;
using Drover.Cli.Client;
using Drover.Cli.Terminal;
using Drover.Contracts;
using Spectre.Console;

namespace Drover.Cli.Dags;

/// <summary><c>drover dag ID [--watch]</c>: a job's DAG as a tree, redrawn live from the event stream; <c>drover dag submit FILE|-</c>.</summary>
internal static class DagCommand
{
    /// <summary>However many events arrive, the tree is fetched and drawn at most this often.</summary>
    private static readonly TimeSpan Redraw = TimeSpan.FromMilliseconds(150);

    /// <summary>Without news from the stream (it broke, or a proxy held it), the tree is fetched again after this long.</summary>
    private static readonly TimeSpan Reconcile = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var id = new Argument<long?>("id") { Description = "Any job of the DAG.", Arity = ArgumentArity.ZeroOrOne };
        var watch = new Option<bool>("--watch", "-w") { Description = "Redraw the tree as the jobs change, until the DAG has stopped; exit 0 when it ended good, 1 otherwise." };
        var command = new Command("dag", "Show a job's DAG as a tree (every job connected to its root, and the edges).") { id, watch, Submit() };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            if (context.Get(id) is not { } job)
            {
                context.Output.Error("give a job id (drover dag ID), or drover dag submit FILE");
                return ExitCodes.Usage;
            }
            if (context.Get(watch))
                return await WatchAsync(context, job, cancellationToken);
            var dag = await context.Api.GetDagAsync(job, cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(dag);
            else
                context.Output.Write(DagTree.Render(dag, DateTimeOffset.Now));
            return ExitCodes.Ok;
        });
        return command;
    }

    private static Command Submit()
    {
        var file = new Argument<string>("file") { Description = "The DAG request as JSON ({\"jobs\": {\"name\": {...}}}), or - for stdin." };
        var command = new Command("submit", "Submit a whole DAG at once, from a file or stdin; prints each job's name and id.") { file };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var path = context.Get(file)!;
            string json;
            try
            {
                json = path == "-" ? await Console.In.ReadToEndAsync(cancellationToken) : await File.ReadAllTextAsync(path, cancellationToken);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                context.Output.Error($"cannot read {path}: {e.Message}");
                return ExitCodes.Usage;
            }
            var answer = await context.Api.SubmitDagAsync(json, cancellationToken);
            if (context.Output.Json)
            {
                Output.WriteJson(answer);
                return ExitCodes.Ok;
            }
            var table = Output.Table("NAME", "ID");
            foreach (var (name, job) in answer.Jobs.OrderBy(j => j.Value))
                table.AddRow(Output.Cell(name), Output.Cell(Words.Id(job)));
            context.Output.Write(table);
            Output.Note($"drover: DAG {answer.Root}: drover dag {answer.Root} --watch");
            return ExitCodes.Ok;
        });
        return command;
    }

    /// <summary>
    /// Follows the DAG's events (<c>?root=</c>) and, after each burst of them, fetches the DAG and redraws it in place;
    /// with <c>--json</c> it writes the DAG as one line each time it changed.
    /// </summary>
    private static async Task<int> WatchAsync(CommandContext context, long job, CancellationToken cancellationToken)
    {
        var dag = await context.Api.GetDagAsync(job, cancellationToken);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
        var listening = ListenAsync(context.Api, dag.Root, changed.Writer, stop.Token);
        try
        {
            if (context.Output.Json || !context.Output.Console.Profile.Capabilities.Interactive)
            {
                // Not a terminal: each change is written after the last, as JSON lines or as trees a blank line apart.
                Write(context.Output, dag);
                while (dag.State != JobState.Stopped)
                {
                    var next = await NextAsync(context.Api, job, changed.Reader, stop.Token);
                    if (!SameAs(next, dag))
                        Write(context.Output, next);
                    dag = next;
                }
            }
            else
            {
                await context.Output.Console.Live(DagTree.Render(dag, DateTimeOffset.Now))
                    .AutoClear(false)
                    .Overflow(VerticalOverflow.Ellipsis)
                    .StartAsync(async live =>
                    {
                        while (dag.State != JobState.Stopped)
                        {
                            dag = await NextAsync(context.Api, job, changed.Reader, stop.Token);
                            live.UpdateTarget(DagTree.Render(dag, DateTimeOffset.Now));
                            live.Refresh();
                        }
                    });
            }
        }
        finally
        {
            await stop.CancelAsync();
            await listening;
        }
        return dag.Status == JobStatus.Good ? ExitCodes.Ok : ExitCodes.JobFailed;
    }

    private static void Write(Output output, DagView dag)
    {
        if (output.Json)
        {
            Output.WriteJsonLine(dag);
            return;
        }
        output.Write(DagTree.Render(dag, DateTimeOffset.Now));
        Output.Line("");
    }

    private static async Task<DagView> NextAsync(DroverApi api, long job, ChannelReader<bool> changed, CancellationToken cancellationToken)
    {
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            wait.CancelAfter(Reconcile);
            try
            {
                await changed.ReadAsync(wait.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                // nothing heard for a while: look anyway
            }
        }
        await Task.Delay(Redraw, cancellationToken);
        changed.TryRead(out _);
        return await api.GetDagAsync(job, cancellationToken);
    }

    /// <summary>Signals each event of the DAG; reconnects after the last one seen when the stream breaks.</summary>
    private static async Task ListenAsync(DroverApi api, long root, ChannelWriter<bool> changed, CancellationToken cancellationToken)
    {
        long? last = null;
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await foreach (var change in api.EventsAsync(job: null, root, last, cancellationToken))
                {
                    if (change is JobEvent e)
                        last = e.Seq;
                    changed.TryWrite(true);
                }
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is HttpRequestException or IOException or ApiProblem)
            {
                // The tree is still fetched every few seconds meanwhile; try the stream again shortly.
            }
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private static bool SameAs(DagView a, DagView b) =>
        a.State == b.State && a.Status == b.Status && a.Jobs.Count == b.Jobs.Count && a.Edges.Count == b.Edges.Count
        && a.Jobs.Zip(b.Jobs).All(p => p.First == p.Second);
}
