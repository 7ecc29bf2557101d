using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Aws.Tests.Fake;
using Microsoft.Data.Sqlite;

namespace Drover.Aws.Tests;

/// <summary>Jobs submitted to a real scheduler and run on an ECS node (the test server), end to end.</summary>
public sealed class SchedulerEcsTests
{
    private static object Job(params string[][] commands) => new
    {
        commands = commands.Select(c => new { exec = c }).ToArray(),
        max_attempts = 1,
        constraints = new { node = "ecs-test" },
    };

    [Fact]
    public async Task Jobs_on_an_ECS_node_end_good_or_with_their_exit_code_can_be_killed_and_their_logs_read_and_followed()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new TestScheduler(fake);
        await scheduler.StartAsync();

        var good = await scheduler.SubmitAsync(Job(["echo", "hello from ECS"], ["sh", "-c", "echo second"]));
        var bad = await scheduler.SubmitAsync(Job(["sh", "-c", "echo failing; exit 3"]));
        var killed = await scheduler.SubmitAsync(Job(["sleep", "60"]));
        var followed = await scheduler.SubmitAsync(Job(["sh", "-c", "for i in 1 2 3 4; do echo tick $i; sleep 0.3; done"]));

        // Followed from the start: the stream stays open while the task runs and ends when it stops.
        var follow = await scheduler.Client.GetStringAsync($"/scheduler/jobs/{followed}/log?follow=true");
        Assert.Equal("tick 1\ntick 2\ntick 3\ntick 4\n", follow);

        var goodStatus = await scheduler.WaitForStateAsync(good, "stopped");
        Assert.Equal("good", goodStatus.GetProperty("status").GetString());
        Assert.Equal(0, goodStatus.GetProperty("exit_code").GetInt32());
        Assert.Equal("ecs-test", goodStatus.GetProperty("node").GetString());
        Assert.Equal("hello from ECS\nsecond\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{good}/log"));
        // The task ARN is the attempt's node reference, recorded with the attempt.
        var goodRecord = await scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{good}");
        Assert.Equal(fake.Tasks.Single(t => t.StartedBy!.StartsWith($"drover-{good}-1-", StringComparison.Ordinal)).Arn, goodRecord.GetProperty("attempts")[0].GetProperty("node_ref").GetString());
        Assert.Equal("from ECS\nsecond\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{good}/log?offset=6"));

        var badStatus = await scheduler.WaitForStateAsync(bad, "stopped");
        Assert.Equal("error", badStatus.GetProperty("status").GetString());
        Assert.Equal("exit_code", badStatus.GetProperty("reason").GetString());
        Assert.Equal(3, badStatus.GetProperty("exit_code").GetInt32());

        await scheduler.WaitForStateAsync(killed, "running");
        using (var kill = await scheduler.Client.PostAsync($"/scheduler/jobs/{killed}/kill", null))
            Assert.True(kill.IsSuccessStatusCode, await kill.Content.ReadAsStringAsync());
        var killedStatus = await scheduler.WaitForStateAsync(killed, "stopped");
        Assert.Equal("error", killedStatus.GetProperty("status").GetString());
        Assert.Equal("killed", killedStatus.GetProperty("reason").GetString());
        Assert.Equal("STOPPED", fake.Task(fake.Tasks.Single(t => t.StartedBy!.StartsWith($"drover-{killed}-1-", StringComparison.Ordinal)).Arn)!.LastStatus);

        var nodes = await scheduler.Client.GetFromJsonAsync<JsonElement>("/scheduler/nodes");
        Assert.Contains("ecs-test", nodes.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(4, fake.TasksCreated);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_placement_failure_is_recorded_with_its_reason_and_a_lost_task_is_node_lost()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new TestScheduler(fake, "--Aws:EcsNodes:0:MissingGrace=00:00:01");
        await scheduler.StartAsync();
        fake.PlacementFailures.Enqueue("RESOURCE:MEMORY");

        var refused = await scheduler.SubmitAsync(Job(["true"]));
        var refusedStatus = await scheduler.WaitForStateAsync(refused, "stopped");
        Assert.Equal("placement_failed", refusedStatus.GetProperty("reason").GetString());
        var record = await scheduler.Client.GetStringAsync($"/scheduler/jobs/{refused}");
        Assert.Contains("RESOURCE:MEMORY", record, StringComparison.Ordinal);

        var lost = await scheduler.SubmitAsync(Job(["sleep", "60"]));
        await scheduler.WaitForStateAsync(lost, "running");
        fake.Forget(fake.Tasks.Single(t => t.StartedBy!.StartsWith($"drover-{lost}-1-", StringComparison.Ordinal)).Arn);
        var lostRecord = await AwsTestHost.WaitFor(async () =>
        {
            var job = await scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{lost}");
            return job.GetProperty("attempts")[0].TryGetProperty("reason", out var reason) && reason.GetString() == "node_lost" ? (object)job : null;
        }, "the first attempt to be lost");
        Assert.NotNull(lostRecord);
        Assert.Empty(fake.Rejections);
    }

    [Theory]
    [InlineData("cluster", "ClusterNotFoundException: Cluster not found.")]
    [InlineData("permission", "AccessDeniedException: User: arn:aws:iam::123456789012:user/drover is not authorized to perform: ecs:RunTask")]
    public async Task An_ECS_error_on_RunTask_is_the_reason_the_job_status_shows(string cause, string words)
    {
        await using var fake = await FakeAws.StartAsync();
        // A long heartbeat timeout: the broken node must still be up when the job is placed, however slow the machine.
        string[] extra = cause == "cluster"
            ? ["--Aws:EcsNodes:0:Cluster=no-such-cluster", "--Scheduler:HeartbeatTimeout=00:01:00"]
            : ["--Scheduler:HeartbeatTimeout=00:01:00"];
        await using var scheduler = new TestScheduler(fake, extra);
        if (cause == "permission")
            fake.Denied["RunTask"] = 0;
        await scheduler.StartAsync();

        var job = await scheduler.SubmitAsync(Job(["true"]));

        var status = await scheduler.WaitForStateAsync(job, "stopped");
        Assert.Equal("error", status.GetProperty("status").GetString());
        Assert.Equal("placement_failed", status.GetProperty("reason").GetString());
        Assert.Contains(words, status.GetProperty("message").GetString(), StringComparison.Ordinal);
        var attempt = (await scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{job}")).GetProperty("attempts")[0];
        Assert.Equal("placement_failed", attempt.GetProperty("reason").GetString());
        Assert.Contains(words, attempt.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, fake.TasksCreated);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_restarted_scheduler_follows_its_tasks_by_their_recorded_ARNs_finds_unrecorded_ones_by_startedBy_and_starts_none_twice()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new TestScheduler(fake, "--Aws:EcsNodes:0:Slots=20");
        await scheduler.StartAsync();
        // More than a handful: unrecorded ones are found with one listing of the cluster, not one call each.
        // The tasks wait for a file, so that all are still running when the scheduler comes back, however slow the machine.
        var go = Path.Combine(Path.GetTempPath(), $"drover-ecs-go-{Guid.NewGuid():N}");
        var jobs = new List<long>();
        for (var i = 0; i < 12; i++)
            jobs.Add(await scheduler.SubmitAsync(Job(
                ["sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.1; done; echo survived $2", "job", go, $"{i}"])));
        foreach (var job in jobs)
            await scheduler.WaitForStateAsync(job, "running");
        var arns = jobs.ToDictionary(j => j, j => fake.Tasks.Single(t => t.StartedBy!.StartsWith($"drover-{j}-1-", StringComparison.Ordinal)).Arn);

        // Restart: every ARN is in the store, so ECS is asked about the tasks without being asked to find them.
        await scheduler.StopAsync();
        var listings = fake.Calls.Count(c => c == "ListTasks");
        var describes = fake.Calls.Count(c => c == "DescribeTasks");
        await scheduler.StartAsync();
        await AwsTestHost.WaitFor(async () => fake.Calls.Count(c => c == "DescribeTasks") > describes ? "" : null, "the restarted scheduler to ask");
        Assert.Equal(listings, fake.Calls.Count(c => c == "ListTasks"));

        // A crash between RunTask's answer and recording it: no ARN in the store. Found again by startedBy, with
        // one listing of the cluster (running and stopped) rather than two calls for each of the twelve, and recorded.
        await scheduler.StopAsync();
        await using (var connection = new SqliteConnection($"Data Source={scheduler.Database};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var forget = connection.CreateCommand();
            forget.CommandText = "UPDATE attempts SET node_ref = NULL";
            Assert.Equal(12, await forget.ExecuteNonQueryAsync());
        }
        listings = fake.Calls.Count(c => c == "ListTasks");
        var lookups = fake.ListsByStartedBy;
        await scheduler.StartAsync();
        await AwsTestHost.WaitFor(async () => fake.Calls.Count(c => c == "ListTasks") > listings ? "" : null, "the restarted scheduler to look");
        await File.WriteAllTextAsync(go, "");

        foreach (var job in jobs)
            Assert.Equal("good", (await scheduler.WaitForStateAsync(job, "stopped")).GetProperty("status").GetString());
        Assert.Equal(12, fake.TasksCreated);
        Assert.Equal(2, fake.Calls.Count(c => c == "ListTasks") - listings);
        File.Delete(go);
        for (var i = 0; i < jobs.Count; i++)
        {
            Assert.Equal($"survived {i}\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{jobs[i]}/log"));
            var record = await scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{jobs[i]}");
            Assert.Equal(arns[jobs[i]], record.GetProperty("attempts")[0].GetProperty("node_ref").GetString());
        }
        // Logs of stopped tasks too are read by the recorded ARN: no task was looked for one by one.
        Assert.Equal(lookups, fake.ListsByStartedBy);
        Assert.Empty(fake.Rejections);
    }
}
