using System.CommandLine;
using Drover.Cli.Client;
using Drover.Cli.Terminal;
using Drover.Contracts;

namespace Drover.Cli.Jobs;

/// <summary>
/// <c>drover wait ID...</c>: waits until every job has stopped, writing a line for each as it stops; exits 0 when all
/// ended good, 1 otherwise. With <c>--dag</c> it waits for each job's whole DAG. On a terminal a progress line on
/// stderr says how many have stopped and which still run.
/// </summary>
internal static class WaitCommand
{
    public static Command Create()
    {
        var ids = new Argument<long[]>("id") { Description = "Job ids.", Arity = ArgumentArity.OneOrMore };
        var dag = new Option<bool>("--dag") { Description = "Wait for the whole DAG of each job, good only if the DAG is." };
        var timeout = new Option<TimeSpan?>("--timeout")
        {
            Description = "Give up (exit 1) after this long: seconds (90), or 10m, 2h, hh:mm:ss.",
            CustomParser = Durations.Parse,
        };
        var command = new Command("wait", "Wait for jobs to stop; exit 0 when all ended good, 1 otherwise.") { ids, dag, timeout };
        command.SetApiAction((context, cancellationToken) =>
            RunAsync(context, context.Get(ids)!, context.Get(dag), context.Get(timeout), cancellationToken));
        return command;
    }

    private static async Task<int> RunAsync(CommandContext context, long[] ids, bool dag, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } t)
            limit.CancelAfter(t);
        var pending = new List<long>(ids.Distinct());
        var total = pending.Count;
        var (good, failed) = (0, 0);
        var states = new Dictionary<long, JobState>();
        using var progress = new ProgressLine(enabled: Output.ErrorIsTerminal && !context.Output.Json);
        var waiter = new JobWaiter();
        try
        {
            while (pending.Count > 0)
            {
                foreach (var id in pending.ToList())
                {
                    var (state, status, detail) = await AskAsync(context.Api, id, dag, limit.Token);
                    states[id] = state;
                    if (state != JobState.Stopped)
                        continue;
                    pending.Remove(id);
                    if (status == JobStatus.Good)
                        good++;
                    else
                        failed++;
                    progress.Clear();
                    if (context.Output.Json)
                        Output.WriteJsonLine(new WaitResult(id, dag, status, detail));
                    else
                        Output.Line($"{(dag ? "dag of " : "")}{id}: {detail}");
                }
                var running = pending.Where(id => states.GetValueOrDefault(id) is JobState.Placed or JobState.Running).ToList();
                var queued = pending.Except(running).ToList();
                progress.Show($"{total - pending.Count}/{total} stopped ({good} good, {failed} error)"
                    + (running.Count > 0 ? $" · running: {Words.Ids(running)}" : "")
                    + (queued.Count > 0 ? $" · queued: {Words.Ids(queued)}" : ""));
                if (pending.Count > 0)
                    await waiter.PauseAsync(limit.Token);
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            progress.Clear();
            context.Output.Error($"gave up waiting after {timeout}; still running: {Words.Ids(pending)}");
            return ExitCodes.JobFailed;
        }
        progress.Clear();
        return failed == 0 ? ExitCodes.Ok : ExitCodes.JobFailed;
    }

    private static async Task<(JobState State, JobStatus Status, string Detail)> AskAsync(DroverApi api, long id, bool dag, CancellationToken cancellationToken)
    {
        if (dag)
        {
            var view = await api.GetDagAsync(id, cancellationToken);
            return (view.State, view.Status, $"{Words.Of(view.Status)} ({view.Jobs.Count} jobs)");
        }
        var job = await api.GetStatusAsync(id, cancellationToken);
        return (job.State, job.Status, Words.Outcome(job));
    }
}

/// <summary>One job (or DAG) waited for, as <c>wait --json</c> writes it when it stops.</summary>
internal sealed record WaitResult(long JobId, bool Dag, JobStatus Status, string Detail);
