using System.Globalization;
using Drover.Cli.Terminal;
using Drover.Contracts;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Drover.Cli.Dags;

/// <summary>
/// A DAG drawn as a tree from its root: under each job the jobs it called (<c>child</c>) and the jobs waiting for it
/// (with the edge's condition). A job reached a second time is named again with <c>↑</c> instead of drawn twice.
/// </summary>
internal static class DagTree
{
    public static IRenderable Render(DagView dag, DateTimeOffset now)
    {
        var jobs = dag.Jobs.ToDictionary(j => j.JobId);
        var below = dag.Edges.GroupBy(e => e.From).ToDictionary(g => g.Key, g => g.OrderBy(e => e.To).ToList());
        var drawn = new HashSet<long>();
        var stopped = dag.Jobs.Count(j => j.State == JobState.Stopped);
        var header = new Markup(string.Create(CultureInfo.InvariantCulture,
            $"[bold]DAG {dag.Root}[/]: {Markup.Escape(dag.State == JobState.Stopped ? Words.Of(dag.Status) : Words.Of(dag.State))}, "
            + $"{stopped}/{dag.Jobs.Count} jobs stopped  [grey]{Words.Time(now)}[/]"));

        var tree = new Tree(Label(jobs, dag.Root, null)) { Guide = TreeGuide.Line };
        drawn.Add(dag.Root);
        Grow(tree, dag.Root, jobs, below, drawn);
        // Jobs not reached from the root along the edges' direction (an upstream job of another DAG) come last.
        var parts = new List<IRenderable> { header, tree };
        foreach (var job in dag.Jobs.Where(j => !drawn.Contains(j.JobId)).OrderBy(j => j.JobId).ToList())
        {
            if (drawn.Contains(job.JobId))
                continue;
            drawn.Add(job.JobId);
            var other = new Tree(Label(jobs, job.JobId, null)) { Guide = TreeGuide.Line };
            Grow(other, job.JobId, jobs, below, drawn);
            parts.Add(other);
        }
        return new Rows(parts);
    }

    private static void Grow(IHasTreeNodes parent, long id, Dictionary<long, JobStatusView> jobs, Dictionary<long, List<DagEdge>> below, HashSet<long> drawn)
    {
        foreach (var edge in below.GetValueOrDefault(id) ?? [])
        {
            if (!drawn.Add(edge.To))
            {
                parent.AddNode(new Markup($"[grey]↑ {edge.To} ({Markup.Escape(edge.Kind)})[/]"));
                continue;
            }
            var node = parent.AddNode(Label(jobs, edge.To, edge.Kind));
            Grow(node, edge.To, jobs, below, drawn);
        }
    }

    private static Markup Label(Dictionary<long, JobStatusView> jobs, long id, string? edge)
    {
        var text = string.Create(CultureInfo.InvariantCulture, $"[bold]{id}[/]");
        if (edge is not null && edge != "child")
            text += $" [grey]{Markup.Escape(edge)}[/]";
        if (!jobs.TryGetValue(id, out var job))
            return new Markup(text);
        var colour = job.State != JobState.Stopped ? "yellow" : job.Status == JobStatus.Good ? "green" : job.Reason == StopReason.Skipped ? "grey" : "red";
        text += $" [{colour}]{Markup.Escape(Words.Outcome(job))}[/]";
        if (job.Message is { Length: > 0 } message && job.State != JobState.Stopped)
            text += $" [grey]{Markup.Escape(message)}[/]";
        return new Markup(text);
    }
}
