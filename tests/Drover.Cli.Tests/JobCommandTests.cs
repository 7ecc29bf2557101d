using System.Text.Json;
using Drover.Contracts;

namespace Drover.Cli.Tests;

/// <summary><c>submit</c> and the commands on one job, run as a user runs them, against a real system.</summary>
public sealed class JobCommandTests(Drover drover) : IClassFixture<Drover>
{
    private static T Json<T>(Run run)
    {
        run.AssertExit(0);
        return JsonSerializer.Deserialize<T>(run.Stdout, DroverJson.Options)!;
    }

    private Task<JobStatusView> StatusAsync(long id) => drover.StoppedAsync(id);

    [Fact]
    public async Task Submit_prints_the_id_alone_and_wait_exits_0_only_when_the_job_ended_good()
    {
        var id = await drover.SubmitAsync("--", "echo", "hello");
        Assert.True(id > 0);

        var good = await drover.RunAsync("submit", "--wait", "--", "true");
        good.AssertExit(0);
        Assert.Matches("^[0-9]+\n$", good.Stdout);
        Assert.Contains("good", good.Stderr, StringComparison.Ordinal);

        var bad = await drover.RunAsync("submit", "--wait", "--attempts", "1", "--", "sh", "-c", "exit 3");
        bad.AssertExit(1);
        var failed = await StatusAsync(long.Parse(bad.Stdout, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal((JobState.Stopped, JobStatus.Error, 3), (failed.State, failed.Status, failed.ExitCode));

        var json = await drover.RunAsync("submit", "--json", "--wait", "--", "true");
        Assert.Equal(JobStatus.Good, Json<JobStatusView>(json).Status);

        var refreshed = Assert.Single(Json<List<JobStatusView>>(await drover.RunAsync("status", "--refresh", "--json", id.ToString())));
        Assert.Equal((id, JobState.Stopped, JobStatus.Good), (refreshed.JobId, refreshed.State, refreshed.Status));
    }

    [Fact]
    public async Task Submit_sends_every_flag_and_show_gives_the_whole_record_back()
    {
        var file = Path.Combine(drover.Root, "data.txt");
        await File.WriteAllTextAsync(file, "from the file\n");
        var upstream = await drover.SubmitOverHttpAsync("true");
        var id = await drover.SubmitAsync(
            "--env", "GREETING=hello there", "-e", "OTHER=2", "--file", file, "--after", $"{upstream}:afterany",
            "--timeout", "90", "--attempts", "2", "--label", "zone=a", "--node", Drover.NodeName, "--priority", "5",
            "--request-id", "cli-every-flag", "--", "sh", "-c", "echo \"$GREETING\"; cat data.txt");

        var record = Json<JobRecord>(await drover.RunAsync("show", "--json", id.ToString()));
        Assert.Equal("cli-every-flag", record.RequestId);
        Assert.Equal(["sh", "-c", "echo \"$GREETING\"; cat data.txt"], record.Spec.Commands.Single().Exec);
        Assert.Equal("hello there", record.Spec.Environment["GREETING"]);
        Assert.Equal("2", record.Spec.Environment["OTHER"]);
        Assert.Equal(["data.txt"], record.Spec.Files);
        Assert.Equal(90, record.Spec.TimeoutSeconds);
        Assert.Equal(2, record.MaxAttempts);
        Assert.Equal(5, record.Priority);
        Assert.Equal(Drover.NodeName, record.Spec.Constraints?.Node);
        Assert.Equal("a", record.Spec.Constraints?.Labels["zone"]);
        Assert.Equal([Dependency.On(upstream, DependencyCondition.Afterany)], record.DependsOn);

        // The same request id again is the same job, and the job ran with its environment and its file.
        Assert.Equal(id, await drover.SubmitAsync("--request-id", "cli-every-flag", "--", "true"));
        Assert.Equal(JobStatus.Good, (await drover.StoppedAsync(id)).Status);
        var log = await drover.RunAsync("logs", id.ToString());
        log.AssertExit(0);
        Assert.Equal("hello there\nfrom the file\n", log.Stdout);

        var shown = await drover.RunAsync("show", id.ToString());
        shown.AssertExit(0);
        Assert.Contains("cli-every-flag", shown.Stdout, StringComparison.Ordinal);
        Assert.Contains("sh -c 'echo \"$GREETING\"; cat data.txt'", shown.Stdout, StringComparison.Ordinal);
        Assert.Contains("ATTEMPT", shown.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Follow_streams_the_log_while_the_job_runs_and_logs_reads_it_from_an_offset()
    {
        var started = DateTime.UtcNow;
        var run = await drover.RunAsync("submit", "--follow", "--", "sh", "-c", "echo one; sleep 1; echo two");
        run.AssertExit(0);
        Assert.Equal("one\ntwo\n", run.Stdout);
        Assert.Matches("submitted job [0-9]+", run.Stderr);
        var id = long.Parse(System.Text.RegularExpressions.Regex.Match(run.Stderr, "submitted job ([0-9]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

        var tail = await drover.RunAsync("logs", "--offset", "4", id.ToString());
        tail.AssertExit(0);
        Assert.Equal("two\n", tail.Stdout);

        var chunks = await drover.RunAsync("logs", "--json", id.ToString());
        chunks.AssertExit(0);
        var text = string.Concat(chunks.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()));
        Assert.Equal("one\ntwo\n", text);

        // logs -f of a running job: it follows until the job stops, and exits as the job ended.
        var slow = await drover.SubmitAsync("--attempts", "1", "--", "sh", "-c", "echo start; sleep 1; echo end; exit 4");
        var followed = await drover.RunAsync("logs", "-f", slow.ToString());
        followed.AssertExit(1);
        Assert.Equal("start\nend\n", followed.Stdout);
        Assert.True(DateTime.UtcNow - started > TimeSpan.FromSeconds(2));
    }

    [Fact]
    public async Task Jobs_lists_newest_first_with_the_APIs_filters()
    {
        var first = await drover.SubmitOverHttpAsync("true");
        var failedId = await drover.SubmitOverHttpAsync("false");
        await drover.StoppedAsync(failedId);
        var last = await drover.SubmitOverHttpAsync("true");

        var all = Json<JobPage>(await drover.RunAsync("jobs", "--json"));
        Assert.Equal(last, all.Jobs[0].JobId);
        Assert.True(all.Jobs.Select(j => j.JobId).SequenceEqual(all.Jobs.Select(j => j.JobId).OrderDescending()));
        Assert.Contains(first, all.Jobs.Select(j => j.JobId));

        var limited = Json<JobPage>(await drover.RunAsync("jobs", "--json", "-n", "2"));
        Assert.Equal(2, limited.Jobs.Count);
        Assert.Equal(last, limited.Jobs[0].JobId);

        var errors = Json<JobPage>(await drover.RunAsync("jobs", "--json", "--status", "error", "--state", "stopped"));
        Assert.Contains(failedId, errors.Jobs.Select(j => j.JobId));
        Assert.All(errors.Jobs, j => Assert.Equal(JobStatus.Error, j.Status));

        var table = await drover.RunAsync("jobs", "--limit", "3");
        table.AssertExit(0);
        var lines = table.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("ID", lines[0], StringComparison.Ordinal);
        Assert.StartsWith(last + " ", lines[1], StringComparison.Ordinal);
        Assert.Equal(4, lines.Length);
    }

    [Fact]
    public async Task Kill_stops_a_job_with_its_descendants_and_retry_queues_a_failed_one_again()
    {
        var sleeper = await drover.SubmitOverHttpAsync("sleep", "60");
        var after = await drover.SubmitAsync("--after", sleeper.ToString(), "--", "true");
        var killed = await drover.RunAsync("kill", "--json", "--descendants", sleeper.ToString());
        var view = Json<JobStatusView>(killed);
        Assert.Equal((JobState.Stopped, StopReason.Killed), (view.State, view.Reason));
        Assert.Equal(StopReason.Killed, (await StatusAsync(after)).Reason);

        var marker = Path.Combine(drover.Root, "retry-marker");
        // Fails the first time, succeeds once the marker exists.
        var flakyId = await drover.SubmitOverHttpAsync("sh", "-c", $"test -e {marker}");
        Assert.Equal(JobStatus.Error, (await drover.StoppedAsync(flakyId)).Status);
        await File.WriteAllTextAsync(marker, "");
        var retried = Json<RetryAnswer>(await drover.RunAsync("retry", "--json", flakyId.ToString()));
        Assert.Contains(flakyId, retried.Requeued);
        Assert.Equal(JobStatus.Good, (await drover.StoppedAsync(flakyId)).Status);

        var human = await drover.RunAsync("kill", flakyId.ToString());
        human.AssertExit(0);
        Assert.Contains($"job {flakyId}: good", human.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_job_submits_a_child_with_no_flags_at_all()
    {
        // Inside the job only DROVER_URL and DROVER_TOKEN (its own job token) tell the CLI where and who it is.
        var run = await drover.RunAsync("submit", "--wait", "--wait-for-children", "--attempts", "1", "--",
            Drover.DotNet, Drover.Cli, "submit", "--", "echo", "from the child");
        run.AssertExit(0);
        var parent = long.Parse(run.Stdout, System.Globalization.CultureInfo.InvariantCulture);
        var record = await drover.RecordAsync(parent);
        var child = Assert.Single(record.Children);
        Assert.Equal($"{child}\n", (await drover.RunAsync("logs", parent.ToString())).Stdout);
        var childRecord = await drover.RecordAsync(child);
        Assert.Equal(parent, childRecord.Parent);
        Assert.Equal(JobStatus.Good, childRecord.Status);
        Assert.Equal("from the child\n", (await drover.RunAsync("logs", child.ToString())).Stdout);
    }

    [Fact]
    public async Task Errors_print_the_problems_title_detail_and_field_and_exit_non_zero()
    {
        var missing = await drover.RunAsync("status", "999999");
        missing.AssertExit(3);
        Assert.Contains("No such job: There is no job 999999.", missing.Stderr, StringComparison.Ordinal);
        Assert.Contains("id: unknown job id", missing.Stderr, StringComparison.Ordinal);
        Assert.Equal("", missing.Stdout);

        var json = await drover.RunAsync("show", "--json", "999999");
        json.AssertExit(3);
        var problem = JsonDocument.Parse(json.Stderr).RootElement;
        Assert.Equal(404, problem.GetProperty("status").GetInt32());
        Assert.Equal("No such job", problem.GetProperty("title").GetString());

        var invalid = await drover.RunAsync("submit", "--env", "1BAD=x", "--", "true");
        invalid.AssertExit(3);
        Assert.Contains("environment.1BAD", invalid.Stderr, StringComparison.Ordinal);

        var reader = await drover.RunAsync(drover.Environment(Drover.ReadKey), null, "submit", "--", "true");
        reader.AssertExit(3);
        Assert.Contains("drover: Forbidden: The caller 'reader' has role 'read'", reader.Stderr, StringComparison.Ordinal);

        var noKey = await drover.RunAsync(drover.Environment("not-a-key"), null, "jobs");
        noKey.AssertExit(3);
        Assert.StartsWith("drover: Unauthorized", noKey.Stderr, StringComparison.Ordinal);

        var unreachable = await drover.RunAsync("--url", $"http://127.0.0.1:{Drover.FreePort()}", "jobs");
        unreachable.AssertExit(4);

        (await drover.RunAsync("submit", "--env", "NOEQUALS", "--", "true")).AssertExit(2);
        (await drover.RunAsync("jobs", "--state", "sleeping")).AssertExit(2);
        (await drover.RunAsync("submit", "--after", "x:afterok", "--", "true")).AssertExit(2);
        var usage = await drover.RunAsync("submit");
        usage.AssertExit(2);
        Assert.DoesNotContain("Usage:", usage.Stderr + usage.Stdout, StringComparison.Ordinal);
    }
}
