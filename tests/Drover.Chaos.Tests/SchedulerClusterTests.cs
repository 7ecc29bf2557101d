using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using Drover.Contracts;
using Xunit.Abstractions;

namespace Drover.Chaos.Tests;

/// <summary>
/// Three schedulers over one PostgreSQL database behave as one scheduler: whichever accepts a job, any of them may
/// place it, follow it and answer for it, and when one dies the others carry its work on. Each scenario asserts what
/// users see (records, graphs, events, the ledger of commands run) and, where that is the point, the store's rows.
/// </summary>
[Collection(ClusterChaosRun.Name)]
public sealed class SchedulerClusterTests(ClusterChaosSystem cluster, ITestOutputHelper output)
{
    private static readonly JobKind[] AllKinds = Enum.GetValues<JobKind>();
    private readonly ChaosSystem _system = cluster.System;

    private IReadOnlyList<HttpClient> Schedulers => _system.SchedulerClients;

    [Fact]
    public async Task Jobs_submitted_round_robin_to_every_scheduler_finish_once_and_every_scheduler_reports_them_alike()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(_system, [_system.GatewayClient, .. Schedulers]);
        await workload.SubmitAsync(32);
        Report(await Checker.CheckAsync(_system, workload, "cluster_round_robin", faults: 0, clock));

        foreach (var id in workload.JobIds)
        {
            var views = new List<string>();
            foreach (var scheduler in Schedulers)
            {
                var record = (await scheduler.GetFromJsonAsync<JobRecord>($"scheduler/jobs/{id}", DroverJson.Options))!;
                views.Add($"{record.State}/{record.Status}/{record.Reason} exit {record.ExitCode} attempts {record.Attempts.Count} node {record.Node}");
            }
            Assert.True(views.Distinct().Count() == 1, $"job {id}: the schedulers disagree:\n  {string.Join("\n  ", views)}");
        }
    }

    [Fact]
    public async Task A_chain_whose_jobs_three_schedulers_accepted_runs_in_order_and_every_scheduler_shows_the_same_links()
    {
        var log = Path.Combine(_system.Directory, "chain-" + Guid.NewGuid().ToString("N")[..6]);
        var a = await SubmitAsync(Schedulers[0], Spec($"sleep 1; echo a >> {log}"));
        var b = await SubmitAsync(Schedulers[1], Spec($"echo b >> {log}", dependsOn: a));
        var c = await SubmitAsync(Schedulers[2], Spec($"echo c >> {log}", dependsOn: b));

        await ChaosTests.WaitAsync(async () => (await JobAsync(Schedulers[2], c)).State == JobState.Stopped, 60, $"job {c} to stop");
        Assert.Equal(["a", "b", "c"], await File.ReadAllLinesAsync(log));
        var views = new List<string>();
        foreach (var scheduler in Schedulers)
        {
            var (ra, rb, rc) = (await JobAsync(scheduler, a), await JobAsync(scheduler, b), await JobAsync(scheduler, c));
            Assert.All([ra, rb, rc], r => Assert.Equal((JobState.Stopped, JobStatus.Good), (r.State, r.Status)));
            Assert.Equal([b], ra.Dependents.Select(d => d.JobId!.Value));
            Assert.Equal([a], rb.DependsOn.Select(d => d.JobId!.Value));
            Assert.Equal([c], rb.Dependents.Select(d => d.JobId!.Value));
            Assert.Equal([b], rc.DependsOn.Select(d => d.JobId!.Value));
            Assert.True(rb.Attempts[0].StartedAt >= ra.FinishedAt && rc.Attempts[0].StartedAt >= rb.FinishedAt,
                $"started {rb.Attempts[0].StartedAt:O} after {ra.FinishedAt:O}, {rc.Attempts[0].StartedAt:O} after {rb.FinishedAt:O}");
            // Waiting on a job that was already there adds an edge, not a member: each job's graph is itself and its edges.
            var graphs = new List<DagView>();
            foreach (var id in new[] { a, b, c })
                graphs.Add((await scheduler.GetFromJsonAsync<DagView>($"scheduler/jobs/{id}/dag", DroverJson.Options))!);
            views.Add(string.Join(" / ", graphs.Select(Describe)) + " / " + string.Join(" / ", new[] { ra, rb, rc }.Select(Links)));
        }
        Assert.True(views.Distinct().Count() == 1, $"the schedulers disagree:\n  {string.Join("\n  ", views)}");
    }

    [Fact]
    public async Task A_job_uploaded_to_one_scheduler_is_started_by_another_and_sees_its_file()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(_system);
        var uploads = new List<long>();
        // Every node drained, so that the first scheduler accepts the jobs and cannot place them; then it dies, and
        // the others, once the nodes are back, start jobs whose files only the first one received.
        foreach (var processor in _system.Processors)
            await DrainAsync(Schedulers[1], processor.Name, drained: true);
        await WaitDrainVisibleAsync([0], _system.Processors.Select(p => p.Name), drained: true);
        try
        {
            for (var i = 0; i < 4; i++)
                uploads.AddRange((await workload.SubmitOneAsync(JobKind.Upload, via: Schedulers[0])).JobIds);
            foreach (var id in uploads)
                Assert.Equal(JobState.Queued, (await JobAsync(Schedulers[0], id)).State);
            await _system.Schedulers[0].KillAsync();
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: {uploads.Count} uploads queued, scheduler 1 killed");
        }
        finally
        {
            foreach (var processor in _system.Processors)
                await DrainAsync(Schedulers[1], processor.Name, drained: false);
        }
        try
        {
            foreach (var id in uploads)
                await ChaosTests.WaitAsync(async () => (await JobAsync(Schedulers[1], id)).State == JobState.Stopped, 60, $"upload job {id} to stop");
            output.WriteLine($"{clock.Elapsed.TotalSeconds:0.0} s: uploads stopped");
        }
        finally
        {
            // The scenarios after this one need all three.
            if (_system.Schedulers[0].Pid is null)
                await _system.Schedulers[0].StartAsync();
        }
        Report(await Checker.CheckAsync(_system, workload, "cluster_upload_elsewhere", faults: 1, clock));

        var placedBy = await OwnersAsync(uploads);
        Assert.All(uploads, id => Assert.True(placedBy.GetValueOrDefault(id) is 1 or 2,
            $"job {id} was followed by scheduler {placedBy.GetValueOrDefault(id) + 1}, not by scheduler 2 or 3"));
    }

    [Fact]
    public async Task A_drain_through_one_scheduler_is_respected_by_the_others_until_undrained()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(_system);
        var (drainedNode, openNode) = (_system.Processors[0].Name, _system.Processors[1].Name);
        await DrainAsync(Schedulers[0], drainedNode, drained: true);
        List<long> anywhere = [], pinned = [];
        try
        {
            await WaitDrainVisibleAsync([1, 2], [drainedNode], drained: true);
            for (var i = 0; i < 6; i++)
                anywhere.AddRange((await workload.SubmitOneAsync(JobKind.OneCommand, via: Schedulers[1 + i % 2])).JobIds);
            pinned.AddRange((await workload.SubmitOneAsync(JobKind.OneCommand, node: drainedNode, via: Schedulers[1])).JobIds);
            foreach (var id in anywhere)
                await ChaosTests.WaitAsync(async () => (await JobAsync(Schedulers[2], id)).State == JobState.Stopped, 60, $"job {id} to stop");
            foreach (var id in anywhere)
                Assert.All((await JobAsync(Schedulers[1], id)).Attempts, attempt => Assert.Equal(openNode, attempt.Node));
            var waiting = await JobAsync(Schedulers[2], pinned[0]);
            Assert.Equal(JobState.Queued, waiting.State);
            Assert.Contains("drained", waiting.QueueReason, StringComparison.Ordinal);
        }
        finally
        {
            await DrainAsync(Schedulers[0], drainedNode, drained: false);
        }
        for (var i = 0; i < 3; i++)
            pinned.AddRange((await workload.SubmitOneAsync(JobKind.OneCommand, node: drainedNode, via: Schedulers[1 + i % 2])).JobIds);
        Report(await Checker.CheckAsync(_system, workload, "cluster_drain", faults: 0, clock));
        foreach (var id in pinned)
            Assert.Equal(drainedNode, (await JobAsync(Schedulers[2], id)).Node);
    }

    [Fact]
    public async Task An_event_reader_on_one_scheduler_sees_every_event_of_all_three_once_in_order()
    {
        var clock = Stopwatch.StartNew();
        using var reader = new EventReader(_system.SchedulerUrls[2], _system.SchedulerClients[2].DefaultRequestHeaders.Authorization!);
        await reader.ConnectedAsync();
        var workload = new Workload(_system);
        await Task.WhenAll(Enumerable.Range(0, ClusterChaosSystem.SchedulerCount).SelectMany(writer => Enumerable.Range(0, 2).Select(async _ =>
        {
            for (var i = 0; i < 30; i++)
                await workload.SubmitOneAsync(JobKind.OneCommand, script: workload.Line(0), via: Schedulers[writer]);
        })));
        Report(await Checker.CheckAsync(_system, workload, "cluster_events", faults: 0, clock));
        var jobs = workload.JobIds.ToHashSet();
        await ChaosTests.WaitAsync(() => Task.FromResult(jobs.All(j => reader.LastStateOf(j) == JobState.Stopped)), 30,
            "the reader to see every job stop");
        reader.Stop();

        var seen = reader.Ids;
        for (var i = 1; i < seen.Count; i++)
            Assert.True(seen[i] > seen[i - 1], $"event {seen[i]} came after {seen[i - 1]}");
        await using var db = await _system.OpenDatabaseAsync();
        var stored = (await db.QueryAsync<long>("SELECT seq FROM events WHERE seq BETWEEN @first AND @last ORDER BY seq",
            new { first = seen[0], last = seen[^1] })).ToList();
        var missed = stored.Except(seen).ToList();
        Assert.True(missed.Count == 0 && stored.Count == seen.Count,
            $"the reader saw {seen.Count} events from {seen[0]} to {seen[^1]}, the store holds {stored.Count}; missed: {string.Join(", ", missed.Take(20))}");
        foreach (var id in jobs)
            Assert.Equal(JobState.Stopped, reader.LastStateOf(id));
        output.WriteLine($"cluster.events: jobs={jobs.Count} events={seen.Count}");
    }

    [Fact]
    public async Task A_scheduler_killed_three_times_under_load_loses_nothing_and_its_attempts_are_taken_over()
    {
        var clock = Stopwatch.StartNew();
        var workload = new Workload(_system, [_system.GatewayClient, Schedulers[1], Schedulers[2]]);
        // A steady load through the gateway and the other two, light enough to leave slots free: a scheduler places
        // first what it accepted itself, so the victim gets its own jobs (below) while the load goes on.
        using var stopLoad = new CancellationTokenSource();
        var load = Task.Run(async () =>
        {
            for (var i = 0; !stopLoad.IsCancellationRequested; i++)
            {
                await workload.SubmitOneAsync(AllKinds[i % AllKinds.Length]);
                await Task.Delay(TimeSpan.FromMilliseconds(250));
            }
        });
        var orphaned = new List<(string Owner, long Job, long Number)>();
        try
        {
            for (var kill = 0; kill < 3; kill++)
            {
                // Jobs that run for a few seconds, accepted by the victim, so that some run on its watch when it dies
                // and outlast its lease.
                var victim = await cluster.InstanceAsync(0);
                // One of these (not an attempt it took over from its previous life, which may be about to end). Just
                // restarted, it is slower to claim than the others, which hear of its jobs at once: it gets more until it wins one.
                var own = new HashSet<long>();
                await ChaosTests.WaitAsync(async () =>
                {
                    own.UnionWith((await workload.SubmitOneAsync(JobKind.OneCommand, script: $"{workload.Line(0)}; sleep 5", via: Schedulers[0])).JobIds);
                    await Task.Delay(TimeSpan.FromMilliseconds(400));
                    return (await ActiveAttemptsOfAsync(victim)).Any(a => own.Contains(a.Job));
                }, 30, $"scheduler 1 ({victim}) to follow one of the jobs it accepted");
                await _system.Schedulers[0].KillAsync();
                // Read after its death: nothing it owned changes owner before its lease lapses.
                var left = await ActiveAttemptsOfAsync(victim);
                orphaned.AddRange(left.Select(a => (victim, a.Job, a.Number)));
                output.WriteLine($"kill {kill + 1}: scheduler 1 ({victim}) was given {own.Count} jobs and left {left.Count} active attempts");
                await Task.Delay(TimeSpan.FromSeconds(0.5));
                await _system.Schedulers[0].StartAsync();
            }
        }
        finally
        {
            await stopLoad.CancelAsync();
            await load;
        }
        Report(await Checker.CheckAsync(_system, workload, "cluster_scheduler_kills", faults: 3, clock));

        await using var db = await _system.OpenDatabaseAsync();
        var takenOver = 0;
        foreach (var (owner, job, number) in orphaned)
        {
            var (state, current, reason, ran) = await db.QuerySingleAsync<(string, string?, string?, long?)>(
                "SELECT state, owner, reason, finished_at - placed_at FROM attempts WHERE job_id = @job AND number = @number", new { job, number });
            Assert.True(state == "stopped", $"attempt {job}-{number} of a killed scheduler is {state}, owned by {current}");
            output.WriteLine($"attempt {job}-{number} of {owner}: {state}/{reason} after {ran} ms, owned by {current}");
            // A node's push to another scheduler may record the end of an attempt before anyone takes it over.
            if (current != owner)
                takenOver++;
        }
        Assert.True(orphaned.Count > 0 && takenOver > 0, $"{orphaned.Count} attempts were left by the killed schedulers, {takenOver} taken over");
        output.WriteLine($"cluster.takeover: orphaned={orphaned.Count} taken_over={takenOver}");
    }

    [Fact]
    public async Task One_scheduler_holds_the_maintenance_lease_and_another_takes_it_when_the_holder_dies()
    {
        string? holder = null;
        for (var i = 0; i < 5; i++)
        {
            var leases = await MaintenanceLeasesAsync();
            var live = await cluster.LiveSchedulersAsync();
            Assert.True(leases.Count == 1 && live.ContainsKey(leases[0].Holder),
                $"maintenance leases: {string.Join(", ", leases.Select(l => l.Holder))}; live schedulers: {string.Join(", ", live.Keys)}");
            holder = leases[0].Holder;
            await Task.Delay(TimeSpan.FromSeconds(0.3));
        }
        var index = (await cluster.LiveSchedulersAsync())[holder!];
        await _system.Schedulers[index].KillAsync();
        try
        {
            var clock = Stopwatch.StartNew();
            string? successor = null;
            await ChaosTests.WaitAsync(async () =>
            {
                var leases = await MaintenanceLeasesAsync();
                var live = await cluster.LiveSchedulersAsync();
                successor = leases.Where(l => l.Holder != holder && live.ContainsKey(l.Holder) && l.ExpiresAt > DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())
                    .Select(l => l.Holder).FirstOrDefault();
                return successor is not null;
            }, 15, $"a scheduler to take the maintenance lease from {holder}, killed");
            Assert.Single(await MaintenanceLeasesAsync());
            output.WriteLine($"cluster.maintenance: from={holder} (scheduler {index + 1}) to={successor} after={clock.Elapsed.TotalSeconds:0.0}s");
        }
        finally
        {
            await _system.Schedulers[index].StartAsync();
        }
    }

    [Fact]
    public async Task A_second_scheduler_on_the_sqlite_file_of_a_running_one_exits_naming_the_lock_and_postgresql()
    {
        var database = Path.Combine(_system.Directory, "single", "scheduler.db");
        await using var first = _system.NewScheduler("sqlite-first", ChaosSystem.Loopback(), database);
        await first.StartAsync();
        var second = _system.NewScheduler("sqlite-second", ChaosSystem.Loopback(), database);
        var (exitCode, text) = await second.RunToExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exitCode != 0, $"the second scheduler exited with 0:\n{text}");
        Assert.Contains($"{database}.lock", text, StringComparison.Ordinal);
        Assert.Contains("PostgreSQL", text, StringComparison.Ordinal);
    }

    private void Report(Figures figures)
    {
        output.WriteLine(figures.ToString());
        ChaosRun.Record(figures);
    }

    private JobSpec Spec(string shell, long? dependsOn = null) => new()
    {
        Commands = [CommandSpec.FromShell(shell)],
        Environment = new Dictionary<string, string> { ["DROVER_CHAOS_RUN"] = _system.RunMarker.Split('=')[1] },
        MaxAttempts = 1,
        DependsOn = dependsOn is { } upstream ? [Dependency.On(upstream)] : null,
    };

    private static async Task<long> SubmitAsync(HttpClient scheduler, JobSpec spec)
    {
        using var response = await scheduler.PostAsJsonAsync("scheduler/jobs/new", spec, DroverJson.Options);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<SubmitAnswer>(body, DroverJson.Options)!.JobId;
    }

    private static async Task<JobRecord> JobAsync(HttpClient scheduler, long id) =>
        (await scheduler.GetFromJsonAsync<JobRecord>($"scheduler/jobs/{id}", DroverJson.Options))!;

    private static async Task DrainAsync(HttpClient scheduler, string node, bool drained)
    {
        using var response = await scheduler.PostAsync($"scheduler/nodes/{node}/{(drained ? "drain" : "undrain")}", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Until each of these schedulers shows the nodes (un)drained: it has read the change from the store.</summary>
    private async Task WaitDrainVisibleAsync(IEnumerable<int> schedulers, IEnumerable<string> nodes, bool drained)
    {
        foreach (var index in schedulers)
            foreach (var node in nodes)
                await ChaosTests.WaitAsync(async () =>
                    (await Schedulers[index].GetFromJsonAsync<NodeView>($"scheduler/nodes/{node}", DroverJson.Options))!.Drained == drained,
                    15, $"scheduler {index + 1} to show {node} {(drained ? "drained" : "undrained")}");
    }

    private static string Links(JobRecord job) =>
        $"{job.Id} {job.State}/{job.Status} after [{string.Join(",", job.DependsOn.Select(d => $"{d.Job}:{d.Condition}"))}] before [{string.Join(",", job.Dependents.Select(d => d.Job))}] root {job.Root}";

    private static string Describe(DagView dag) =>
        string.Join("; ", dag.Jobs.OrderBy(j => j.JobId).Select(j => $"{j.JobId} {j.State}/{j.Status} {j.Attempts} {j.ExitCode}"))
        + " | " + string.Join("; ", dag.Edges.OrderBy(e => e.From).ThenBy(e => e.To).Select(e => $"{e.From}->{e.To} {e.Kind}"));

    /// <summary>Which scheduler (index) owns each job's latest attempt now.</summary>
    private async Task<Dictionary<long, int>> OwnersAsync(IReadOnlyList<long> jobs)
    {
        await using var db = await _system.OpenDatabaseAsync();
        var rows = await db.QueryAsync<(long Job, string? Url)>(
            """
            SELECT a.job_id, s.url FROM attempts a JOIN jobs j ON j.id = a.job_id AND a.number = j.attempts
            LEFT JOIN schedulers s ON s.id = a.owner WHERE a.job_id = ANY(@jobs)
            """, new { jobs = jobs.ToArray() });
        return rows.ToDictionary(r => r.Job, r => cluster.IndexOf(r.Url));
    }

    private async Task<List<(long Job, long Number)>> ActiveAttemptsOfAsync(string owner)
    {
        await using var db = await _system.OpenDatabaseAsync();
        return (await db.QueryAsync<(long, long)>(
            "SELECT job_id, number FROM attempts WHERE owner = @owner AND state IN ('placed', 'running')", new { owner })).ToList();
    }

    private async Task<List<(string Holder, long ExpiresAt)>> MaintenanceLeasesAsync()
    {
        await using var db = await _system.OpenDatabaseAsync();
        return (await db.QueryAsync<(string, long)>("SELECT holder, expires_at FROM leases WHERE name = 'maintenance'")).ToList();
    }

    /// <summary>An unfiltered <c>GET /scheduler/events</c> stream, read as it comes: every event id, and each job's last state.</summary>
    private sealed class EventReader : IDisposable
    {
        private readonly HttpClient _client;
        private readonly CancellationTokenSource _stop = new();
        private readonly TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly List<long> _ids = [];
        private readonly Dictionary<long, JobState> _states = [];
        private readonly Task _reading;

        public EventReader(Uri scheduler, System.Net.Http.Headers.AuthenticationHeaderValue token)
        {
            _client = new HttpClient { BaseAddress = scheduler, Timeout = Timeout.InfiniteTimeSpan };
            _client.DefaultRequestHeaders.Authorization = token;
            _reading = ReadAsync();
        }

        public List<long> Ids
        {
            get
            {
                lock (_ids)
                    return [.. _ids];
            }
        }

        public JobState? LastStateOf(long job)
        {
            lock (_ids)
                return _states.TryGetValue(job, out var state) ? state : null;
        }

        /// <summary>Until the stream is open: the scheduler has taken its starting point, the last event before it.</summary>
        public Task ConnectedAsync() => _connected.Task.WaitAsync(TimeSpan.FromSeconds(30));

        public void Stop() => _stop.Cancel();

        private async Task ReadAsync()
        {
            try
            {
                using var response = await _client.GetAsync("scheduler/events", HttpCompletionOption.ResponseHeadersRead, _stop.Token);
                response.EnsureSuccessStatusCode();
                using var stream = new StreamReader(await response.Content.ReadAsStreamAsync(_stop.Token), Encoding.UTF8);
                string? kind = null;
                while (await stream.ReadLineAsync(_stop.Token) is { } line)
                {
                    if (line.StartsWith(": drover events", StringComparison.Ordinal))
                        _connected.TrySetResult();
                    else if (line.StartsWith("id: ", StringComparison.Ordinal))
                        lock (_ids)
                            _ids.Add(long.Parse(line[4..], CultureInfo.InvariantCulture));
                    else if (line.StartsWith("event: ", StringComparison.Ordinal))
                        kind = line[7..];
                    else if (line.StartsWith("data: ", StringComparison.Ordinal) && kind == "job")
                    {
                        var change = JsonSerializer.Deserialize<JobEvent>(line[6..], DroverJson.Options)!;
                        lock (_ids)
                            _states[change.JobId] = change.State;
                    }
                }
            }
            catch (OperationCanceledException) when (_stop.IsCancellationRequested)
            {
            }
            catch (Exception e)
            {
                _connected.TrySetException(e);
                throw;
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            try
            {
                _reading.Wait(TimeSpan.FromSeconds(5));
            }
            catch (AggregateException)
            {
                // the stream's failure was reported through ConnectedAsync or the assertions
            }
            _client.Dispose();
            _stop.Dispose();
        }
    }
}
