using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using Dapper;
using Drover.Contracts;

namespace Drover.Chaos.Tests;

/// <summary>What one scenario did, printed so that runs can be compared.</summary>
public sealed record Figures(string Scenario, int Jobs, int Faults, int Lost, int Duplicates, int Orphans, double Seconds)
{
    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"chaos.{Scenario}: jobs={Jobs} faults={Faults} lost={Lost} duplicates={Duplicates} orphans={Orphans} seconds={Seconds:0.0}");
}

/// <summary>
/// After a scenario: every accepted job stopped, and good (every command of this suite succeeds); the ledger holds
/// each attempt's commands at most once, and a job's commands under a second attempt only where its record shows the
/// earlier attempt lost with its node (<c>node_lost</c>, <c>node_restarted</c>); every parent has exactly one child;
/// no process of a job outlives it; the store is consistent.
/// </summary>
public static class Checker
{
    private static readonly StopReason[] LostReasons = [StopReason.NodeLost, StopReason.NodeRestarted];

    public static async Task<Figures> CheckAsync(
        ChaosSystem system, Workload workload, string scenario, int faults, Stopwatch clock, Func<long, bool>? killed = null)
    {
        killed ??= _ => false;
        var problems = new List<string>();
        var ids = workload.JobIds.ToHashSet();
        var records = await WaitStoppedAsync(system, ids, problems);

        // Children are jobs too: they must stop, and each parent made exactly one.
        foreach (var parent in workload.Submitted.Where(s => s.Kind == JobKind.Parent).SelectMany(s => s.JobIds))
        {
            if (!records.TryGetValue(parent, out var record))
                continue;
            if (record.Children.Count != 1)
                problems.Add($"parent {parent} has {record.Children.Count} children: {string.Join(", ", record.Children)}");
            foreach (var child in record.Children)
                ids.Add(child);
        }
        foreach (var (id, record) in await WaitStoppedAsync(system, ids.Where(i => !records.ContainsKey(i)).ToHashSet(), problems))
            records[id] = record;
        var lost = ids.Count(i => !records.TryGetValue(i, out var r) || r.State != JobState.Stopped);

        var expectedCommands = workload.Submitted.SelectMany(s => s.JobIds.Select(id => (id, s.Commands))).ToDictionary(p => p.id, p => p.Commands);
        var ledger = ReadLedger(system.Ledger).Where(l => ids.Contains(l.Job)).ToList();
        var duplicates = 0;
        foreach (var (id, record) in records)
        {
            if (record.State != JobState.Stopped)
                continue;
            var isKilled = killed(id);
            if (!isKilled && record.Status != JobStatus.Good)
                problems.Add($"job {id} ended {record.Status}/{record.Reason} (last attempt: {record.LastReason}): {Describe(record)}");
            if (isKilled && record.Reason != StopReason.Killed)
                problems.Add($"killed job {id} ended {record.Status}/{record.Reason}: {Describe(record)}");

            var lines = ledger.Where(l => l.Job == id).ToList();
            foreach (var twice in lines.GroupBy(l => (l.Attempt, l.Command)).Where(g => g.Count() > 1))
                problems.Add($"job {id} attempt {twice.Key.Attempt} ran command {twice.Key.Command} {twice.Count()} times: {Describe(record)}");
            var attempts = lines.Select(l => l.Attempt).Distinct().Order().ToList();
            foreach (var attempt in attempts)
                if (record.Attempts.All(a => a.Number != attempt))
                    problems.Add($"job {id} ran as attempt {attempt}, which its record does not have: {Describe(record)}");
            if (attempts.Count > 1)
            {
                duplicates++;
                // Every attempt that ran commands but the last must have been lost with its node.
                foreach (var earlier in attempts.SkipLast(1))
                    if (record.Attempts.FirstOrDefault(a => a.Number == earlier) is { } a && !LostReasons.Contains(a.Reason ?? StopReason.ExitCode))
                        problems.Add($"job {id} ran its commands again after attempt {earlier} ended {a.Reason}: {Describe(record)}");
            }
            if (record.Status == JobStatus.Good && expectedCommands.TryGetValue(id, out var count) && record.Attempts.Count > 0 && record.Attempts[^1] is { } good)
            {
                var ran = lines.Where(l => l.Attempt == good.Number).Select(l => l.Command).Order().ToList();
                if (!ran.SequenceEqual(Enumerable.Range(0, count)))
                    problems.Add($"job {id} ended good, but its attempt {good.Number} ran commands [{string.Join(", ", ran)}] of {count}");
            }
        }

        var orphans = await WaitForNoOrphansAsync(system.RunMarker, killed: false);
        if (orphans.Count > 0)
            problems.Add($"{orphans.Count} processes outlived their jobs:\n  {string.Join("\n  ", orphans)}");
        problems.AddRange(await StoreProblemsAsync(system));

        var figures = new Figures(scenario, ids.Count, faults, lost, duplicates, orphans.Count, clock.Elapsed.TotalSeconds);
        var tails = string.Concat(system.Schedulers.Concat(system.Processors.Select(p => p.Service)).Select(s => $"\n--- {s.Name}:\n{s.Tail}"));
        Assert.True(problems.Count == 0, $"{figures}\n{string.Join("\n", problems.Take(30))}{tails}");
        return figures;
    }

    private static string Describe(JobRecord record) =>
        string.Join("; ", record.Attempts.Select(a => $"#{a.Number} {a.Node} {a.State}/{a.Status}/{a.Reason} exit {a.ExitCode} {a.Message}"));

    private static async Task<Dictionary<long, JobRecord>> WaitStoppedAsync(ChaosSystem system, HashSet<long> ids, List<string> problems)
    {
        var records = new Dictionary<long, JobRecord>();
        var deadline = DateTime.UtcNow.AddSeconds(180);
        var waiting = ids.ToHashSet();
        while (waiting.Count > 0)
        {
            foreach (var id in waiting.ToList())
            {
                try
                {
                    var record = await system.JobAsync(id);
                    records[id] = record;
                    if (record.State == JobState.Stopped)
                        waiting.Remove(id);
                }
                catch (HttpRequestException e) when (e.StatusCode == System.Net.HttpStatusCode.NotFound)
                {
                    problems.Add($"job {id} was accepted and the scheduler does not know it");
                    waiting.Remove(id);
                }
            }
            if (waiting.Count == 0)
                break;
            if (DateTime.UtcNow > deadline)
            {
                problems.AddRange(waiting.Select(id => $"job {id} did not stop within 180 s: {records.GetValueOrDefault(id)?.State} {Describe(records[id])}"));
                break;
            }
            await Task.Delay(250);
        }
        return records;
    }

    private sealed record LedgerLine(long Job, int Attempt, int Command);

    private static IEnumerable<LedgerLine> ReadLedger(string path)
    {
        if (!File.Exists(path))
            yield break;
        foreach (var line in File.ReadAllLines(path))
        {
            var parts = line.Split(' ');
            if (parts.Length == 3)
                yield return new LedgerLine(long.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture),
                    int.Parse(parts[2], CultureInfo.InvariantCulture));
        }
    }

    /// <summary>Processes that carry the run's marker in their environment, as <c>ps e</c> shows them.</summary>
    public static IReadOnlyList<string> FindOrphans(string marker)
    {
        var start = new ProcessStartInfo("ps", ["axeww", "-o", "pid=,command="]) { RedirectStandardOutput = true, UseShellExecute = false };
        using var ps = Process.Start(start)!;
        var output = ps.StandardOutput.ReadToEnd();
        ps.WaitForExit();
        var self = Environment.ProcessId.ToString(CultureInfo.InvariantCulture);
        return output.Split('\n')
            .Where(l => l.Contains(marker, StringComparison.Ordinal) && !l.TrimStart().StartsWith(self + " ", StringComparison.Ordinal))
            .Where(l => !l.Contains(" ps axeww ", StringComparison.Ordinal))
            .Select(l => l.Length > 300 ? l[..300] : l)
            .ToList();
    }

    /// <summary>Waits a little for processes that are on their way out; what is still there afterwards is an orphan.</summary>
    public static async Task<IReadOnlyList<string>> WaitForNoOrphansAsync(string marker, bool killed)
    {
        var deadline = DateTime.UtcNow.AddSeconds(killed ? 15 : 10);
        while (true)
        {
            var orphans = FindOrphans(marker);
            if (orphans.Count == 0 || DateTime.UtcNow > deadline)
                return orphans;
            await Task.Delay(250);
        }
    }

    /// <summary>Leaves nothing behind after a failed run.</summary>
    public static void KillOrphans(string marker)
    {
        foreach (var line in FindOrphans(marker))
            if (int.TryParse(line.Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                try
                {
                    using var process = Process.GetProcessById(pid);
                    process.Kill();
                }
                catch (ArgumentException)
                {
                }
                catch (InvalidOperationException)
                {
                }
            }
    }

    /// <summary>The store's own consistency, read straight from the database (WAL lets a reader in beside a SQLite scheduler).</summary>
    public static async Task<IReadOnlyList<string>> StoreProblemsAsync(ChaosSystem system)
    {
        await using var db = await system.OpenDatabaseAsync();
        var checks = new (string What, string Sql)[]
        {
            ("active attempts of stopped jobs",
                "SELECT COUNT(*) FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE a.state IN ('placed', 'running') AND j.state = 'stopped'"),
            ("jobs with more than one active attempt",
                "SELECT COUNT(*) FROM (SELECT job_id FROM attempts WHERE state IN ('placed', 'running') GROUP BY job_id HAVING COUNT(*) > 1) AS doubled"),
            ("jobs whose attempt count is not their latest attempt",
                "SELECT COUNT(*) FROM jobs j WHERE j.attempts != (SELECT COALESCE(MAX(number), 0) FROM attempts WHERE job_id = j.id)"),
            ("queued jobs with an active attempt",
                "SELECT COUNT(*) FROM jobs j WHERE j.state = 'queued' AND EXISTS (SELECT 1 FROM attempts WHERE job_id = j.id AND state IN ('placed', 'running'))"),
            ("placed or running jobs without an active attempt",
                "SELECT COUNT(*) FROM jobs j WHERE j.state IN ('placed', 'running') AND j.awaiting_children = 0 AND NOT EXISTS (SELECT 1 FROM attempts WHERE job_id = j.id AND number = j.attempts AND state IN ('placed', 'running'))"),
            ("stopped jobs still awaiting children", "SELECT COUNT(*) FROM jobs WHERE state = 'stopped' AND awaiting_children = 1"),
            ("jobs naming a parent that does not exist", "SELECT COUNT(*) FROM jobs WHERE parent IS NOT NULL AND parent NOT IN (SELECT id FROM jobs)"),
            ("dependencies on jobs that do not exist",
                "SELECT COUNT(*) FROM dependencies d WHERE d.depends_on NOT IN (SELECT id FROM jobs) OR d.job_id NOT IN (SELECT id FROM jobs)"),
            ("jobs placed while a dependency was unresolved",
                "SELECT COUNT(*) FROM jobs j WHERE j.state != 'queued' AND j.attempts > 0 AND j.waiting_on != 0"),
            ("jobs whose waiting count disagrees with their unfinished dependencies",
                "SELECT COUNT(*) FROM jobs j WHERE j.state = 'queued' AND j.waiting_on != (SELECT COUNT(*) FROM dependencies d JOIN jobs u ON u.id = d.depends_on WHERE d.job_id = j.id AND u.state != 'stopped')"),
            ("jobs that ran before an afterok dependency ended good",
                "SELECT COUNT(*) FROM dependencies d JOIN jobs u ON u.id = d.depends_on JOIN attempts a ON a.job_id = d.job_id WHERE d.condition = 'afterok' AND (u.status != 'good' OR a.placed_at < u.finished_at)"),
        };
        var problems = new List<string>();
        foreach (var (what, sql) in checks)
            if (await db.ExecuteScalarAsync<long>(sql) is > 0 and var count)
                problems.Add($"store: {count} {what}");
        return problems;
    }

    public static async Task<IReadOnlyList<NodeJobStatus>> NodeJobsAsync(HttpClient node) =>
        (await node.GetFromJsonAsync<NodeJobList>("processor/jobs/status", DroverJson.Options))!.Jobs;
}
