using System.Text.Json;
using Drover.Contracts;

namespace Drover.Cli.Tests;

/// <summary><c>dag</c>, <c>queue</c>, <c>nodes</c>, <c>drain</c>/<c>undrain</c> and <c>events</c>, against a real system of their own.</summary>
public sealed class SystemCommandTests(Drover drover) : IClassFixture<Drover>
{
    private const string Diamond = """
        {"jobs": {
          "fetch": {"commands": [["echo", "fetch"]]},
          "left":  {"commands": [["echo", "left"]],  "depends_on": ["fetch"]},
          "right": {"commands": [["false"]], "max_attempts": 1, "depends_on": ["fetch"]},
          "join":  {"commands": [["echo", "join"]],  "depends_on": ["left", "right"]},
          "alert": {"commands": [["echo", "right failed"]], "depends_on": [{"job": "right", "condition": "afternotok"}]}}}
        """;

    private static T Json<T>(Run run)
    {
        run.AssertExit(0);
        return JsonSerializer.Deserialize<T>(run.Stdout, DroverJson.Options)!;
    }

    [Fact]
    public async Task Dag_submit_takes_a_file_or_stdin_and_dag_draws_the_graph_as_a_tree()
    {
        var file = Path.Combine(drover.Root, "diamond.json");
        await File.WriteAllTextAsync(file, Diamond);
        var answer = Json<DagAnswer>(await drover.RunAsync("dag", "submit", "--json", file));
        Assert.Equal(["alert", "fetch", "join", "left", "right"], answer.Jobs.Keys.Order());

        // --watch off a terminal writes each change after the last, and exits as the DAG ended: "right" fails.
        var watched = await drover.RunAsync("dag", answer.Root.ToString(), "--watch");
        watched.AssertExit(1);
        Assert.Contains($"DAG {answer.Root}: error, 5/5 jobs stopped", watched.Stdout, StringComparison.Ordinal);

        var view = Json<DagView>(await drover.RunAsync("dag", "--json", answer.Jobs["join"].ToString()));
        Assert.Equal((answer.Root, JobState.Stopped, JobStatus.Error), (view.Root, view.State, view.Status));
        Assert.Equal(5, view.Jobs.Count);
        Assert.Contains(new DagEdge(answer.Jobs["right"], answer.Jobs["alert"], "afternotok"), view.Edges);

        var tree = await drover.RunAsync("dag", answer.Root.ToString());
        tree.AssertExit(0);
        var lines = tree.Stdout.Split('\n').Select(l => l.TrimEnd()).ToList();
        Assert.Contains($"{answer.Root} good", lines);
        Assert.Contains(lines, l => l.Contains($"── {answer.Jobs["right"]} afterok error (exit_code 1)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"── {answer.Jobs["alert"]} afternotok good", StringComparison.Ordinal));
        // "join" waits for two jobs: drawn once, and named again under the other.
        Assert.Single(lines, l => l.Contains($"{answer.Jobs["join"]} afterok error (dependency_failed)", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains($"↑ {answer.Jobs["join"]} (afterok)", StringComparison.Ordinal));

        var fromStdin = await drover.RunAsync(drover.Environment(), """{"jobs": {"only": {"commands": [["true"]]}}}""", "dag", "submit", "-");
        fromStdin.AssertExit(0);
        Assert.Matches(@"only\s+[0-9]+", fromStdin.Stdout);

        var bad = await drover.RunAsync(drover.Environment(), """{"jobs": {"a": {"commands": [["true"]], "depends_on": ["nobody"]}}}""", "dag", "submit", "-");
        bad.AssertExit(3);
        Assert.Contains("jobs.a.depends_on", bad.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Queue_says_why_jobs_wait_and_drain_keeps_new_jobs_off_a_node_until_undrain()
    {
        var nodes = Json<NodeViewList>(await drover.RunAsync("nodes", "--json"));
        var node = Assert.Single(nodes.Nodes);
        Assert.Equal((Drover.NodeName, NodeHealth.Up, false), (node.Name, node.Health, node.Drained));
        var table = await drover.RunAsync("nodes");
        table.AssertExit(0);
        Assert.Matches($@"(?m)^{Drover.NodeName}\s+up\s", table.Stdout);

        var drained = Json<NodeView>(await drover.RunAsync("drain", "--json", Drover.NodeName));
        Assert.True(drained.Drained);
        Assert.Empty(Json<NodeViewList>(await drover.RunAsync("nodes", "--available", "--json")).Nodes);
        var held = await drover.SubmitOverHttpAsync("true");
        var after = await drover.SubmitAsync("--after", held.ToString(), "--", "true");

        var queue = Json<QueueList>(await drover.RunAsync("queue", "--json"));
        Assert.Contains(held, queue.Jobs.Select(j => j.JobId));
        var waiting = Assert.Single(queue.Jobs, j => j.JobId == after);
        Assert.Contains("depends_on", waiting.Reason, StringComparison.Ordinal);
        var queueTable = await drover.RunAsync("queue");
        queueTable.AssertExit(0);
        Assert.Matches($@"(?m)^{after}\s+0\s+0\s+.*depends_on", queueTable.Stdout);

        var one = Json<QueueEntry>(await drover.RunAsync("queue", "--json", held.ToString()));
        Assert.True(one.Queued);
        var doomed = await drover.SubmitOverHttpAsync("true");
        var cancelled = Json<QueueEntry>(await drover.RunAsync("cancel", "--json", doomed.ToString()));
        Assert.False(cancelled.Queued);
        Assert.Equal(StopReason.Cancelled, (await drover.RecordAsync(doomed)).Reason);
        var again = await drover.RunAsync("cancel", doomed.ToString());
        again.AssertExit(3);
        Assert.Contains("The job is not in the queue", again.Stderr, StringComparison.Ordinal);
        Assert.Contains("id: job is stopped", again.Stderr, StringComparison.Ordinal);

        var undrained = await drover.RunAsync("undrain", Drover.NodeName);
        undrained.AssertExit(0);
        Assert.StartsWith($"{Drover.NodeName}: takes jobs", undrained.Stdout, StringComparison.Ordinal);
        Assert.Equal(JobStatus.Good, (await drover.StoppedAsync(after)).Status);

        var unknown = await drover.RunAsync("drain", "nowhere");
        unknown.AssertExit(3);
        Assert.Contains("No such node", unknown.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Events_streams_a_jobs_changes_one_line_each()
    {
        var id = await drover.SubmitOverHttpAsync("true");
        await drover.StoppedAsync(id);
        using var events = drover.Start(drover.Environment(), "events", "--json", "--job", id.ToString());
        try
        {
            var seen = new List<JobEvent>();
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (seen.LastOrDefault()?.State != JobState.Stopped)
            {
                var line = await events.StandardOutput.ReadLineAsync(limit.Token) ?? throw new Xunit.Sdk.XunitException("events ended early");
                seen.Add(JsonSerializer.Deserialize<JobEvent>(line, DroverJson.Options)!);
            }
            Assert.All(seen, e => Assert.Equal(id, e.JobId));
            Assert.Equal([JobState.Queued, JobState.Placed, JobState.Running, JobState.Stopped], seen.Select(e => e.State));
            Assert.Equal(JobStatus.Good, seen[^1].Status);
            Assert.True(seen.Select(e => e.Seq).SequenceEqual(seen.Select(e => e.Seq).Order()));
        }
        finally
        {
            events.Kill();
            await events.WaitForExitAsync();
        }

        // The human form, of a job and unfiltered: a line an event, as it happens.
        using var live = drover.Start(drover.Environment(), "events");
        try
        {
            await Task.Delay(TimeSpan.FromSeconds(1)); // connected before the job exists: an unfiltered stream starts now
            var next = await drover.SubmitAsync("--", "true");
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? line;
            do
                line = await live.StandardOutput.ReadLineAsync(limit.Token);
            while (line is not null && !line.Contains($"job {next}  stopped good", StringComparison.Ordinal));
            Assert.NotNull(line);
        }
        finally
        {
            live.Kill();
            await live.WaitForExitAsync();
        }
    }
}
