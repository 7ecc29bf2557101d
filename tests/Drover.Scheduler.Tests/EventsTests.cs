using System.Net;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary><c>GET /scheduler/events</c>: a server-sent event stream that a client can leave and rejoin without missing anything.</summary>
public class EventsTests() : ClusterTest(0, "--Scheduler:EventHeartbeat=00:00:00.300")
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.AddNodeAsync("n1", slots: 8);
    }

    /// <summary>Reads events (and comment lines) from an open stream.</summary>
    private sealed class EventReader(StreamReader reader) : IDisposable
    {
        public int Comments { get; private set; }

        public string? LastData { get; private set; }

        public async Task<(long Id, JobEvent Event)?> NextAsync(CancellationToken cancellationToken)
        {
            long? id = null;
            string? data = null;
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                if (line.StartsWith(':'))
                    Comments++;
                else if (line.StartsWith("id: ", StringComparison.Ordinal))
                    id = long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                    LastData = data = line[6..];
                else if (line.Length == 0 && id is { } seq && data is not null)
                    return (seq, JsonSerializer.Deserialize<JobEvent>(data, DroverJson.Options)!);
            }
            return null;
        }

        public void Dispose() => reader.Dispose();
    }

    private async Task<(HttpResponseMessage Response, EventReader Reader)> OpenAsync(string query, long? lastEventId = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/scheduler/events" + query);
        if (lastEventId is { } last)
            request.Headers.Add("Last-Event-ID", last.ToString(System.Globalization.CultureInfo.InvariantCulture));
        var response = await Cluster.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return (response, new EventReader(new StreamReader(await response.Content.ReadAsStreamAsync())));
    }

    [Fact]
    public async Task A_client_that_reconnects_with_Last_Event_ID_misses_nothing()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var jobs = new Dictionary<string, object> { ["start"] = DagTests.Job("sleep 0.3") };
        for (var i = 0; i < 10; i++)
            jobs[$"step{i}"] = DagTests.Job("sleep 0.05", i == 0 ? "start" : $"step{i - 1}");
        var answer = await DagTests.SubmitDagAsync(Cluster, new { jobs });
        var ids = answer.Jobs.Values.ToHashSet();

        // Read a few events, then go away while the DAG runs on.
        var seen = new List<(long Id, JobEvent Event)>();
        var (first, reader) = await OpenAsync($"?root={answer.Root}");
        using (first)
        using (reader)
        {
            while (seen.Count < 15 && await reader.NextAsync(timeout.Token) is { } next)
                seen.Add(next);
        }
        await Task.Delay(500);

        var (second, again) = await OpenAsync($"?root={answer.Root}", seen[^1].Id);
        using (second)
        using (again)
        {
            var stopped = seen.Where(e => e.Event.State == JobState.Stopped).Select(e => e.Event.JobId).ToHashSet();
            while (!ids.IsSubsetOf(stopped) && await again.NextAsync(timeout.Token) is { } next)
            {
                seen.Add(next);
                if (next.Event.State == JobState.Stopped)
                    stopped.Add(next.Event.JobId);
            }
        }

        // Everything the log holds for this DAG, read in one go, is exactly what the two connections saw.
        var (all, replay) = await OpenAsync($"?root={answer.Root}&last_event_id=0");
        var everything = new List<long>();
        using (all)
        using (replay)
        {
            while (everything.Count < seen.Count && await replay.NextAsync(timeout.Token) is { } next)
                everything.Add(next.Id);
        }
        Assert.Equal(everything, seen.Select(e => e.Id));
        Assert.Equal(seen.Select(e => e.Id).Order(), seen.Select(e => e.Id));
        Assert.All(seen, e => Assert.Contains(e.Event.JobId, ids));
        foreach (var id in ids)
        {
            var states = seen.Where(e => e.Event.JobId == id).Select(e => e.Event.State).ToList();
            Assert.Equal([JobState.Queued, JobState.Placed], states.Take(2));
            Assert.Equal(JobState.Stopped, states[^1]);
        }
    }

    [Fact]
    public async Task An_unfiltered_stream_carries_node_changes()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var (response, reader) = await OpenAsync("");
        using (response)
        using (reader)
        {
            using (var drain = await Cluster.Client.PostAsync("/scheduler/nodes/n1/drain", null))
                Assert.Equal(HttpStatusCode.OK, drain.StatusCode);
            // Jobs of other tests may change meanwhile: their events on the same unfiltered stream are passed over.
            var next = await reader.NextAsync(timeout.Token);
            while (next is { Event.Kind: not "node" })
                next = await reader.NextAsync(timeout.Token);
            Assert.Equal(("node", "n1"), (next!.Value.Event.Kind, next.Value.Event.Node));
            var node = JsonSerializer.Deserialize<NodeEvent>(reader.LastData!, DroverJson.Options)!;
            Assert.Equal(("n1", "drained", next.Value.Id), (node.Node, node.Change, node.Seq));
        }
    }

    [Fact]
    public async Task An_idle_stream_gets_heartbeats_and_a_job_filter_starts_with_its_history()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        await Cluster.WaitStoppedAsync(id);
        var (response, reader) = await OpenAsync($"?job={id}");
        using (response)
        using (reader)
        {
            var events = new List<JobEvent>();
            while (events.LastOrDefault()?.State != JobState.Stopped && await reader.NextAsync(timeout.Token) is { } next)
                events.Add(next.Event);
            Assert.All(events, e => Assert.Equal(id, e.JobId));
            Assert.Equal(JobStatus.Good, events[^1].Status);

            var comments = reader.Comments;
            var late = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], DependsOn = [Dependency.On(id)] });
            await Cluster.WaitStoppedAsync(late);
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                Assert.Null(await reader.NextAsync(wait.Token)); // another job's events do not pass the filter
            }
            catch (OperationCanceledException)
            {
            }
            Assert.True(reader.Comments > comments, "no heartbeat came in 2 s");
        }
    }
}
