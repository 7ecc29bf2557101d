using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Aws.Tests.Fake;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.Aws.Tests;

/// <summary>Jobs submitted to a real scheduler and run on an ECS node (the test server), end to end.</summary>
public sealed class SchedulerEcsTests
{
    private sealed class Scheduler : IAsyncDisposable
    {
        private readonly string _directory = Directory.CreateTempSubdirectory("drover-ecs-scheduler-").FullName;
        private readonly FakeAws _fake;
        private readonly string[] _extra;
        private WebApplication? _app;

        public Scheduler(FakeAws fake, params string[] extra)
        {
            _fake = fake;
            _extra = extra;
        }

        public HttpClient Client { get; private set; } = null!;

        public async Task StartAsync()
        {
            _app = SchedulerApp.Create(
            [
                "--urls", "http://127.0.0.1:0",
                $"--Scheduler:Database={Path.Combine(_directory, "scheduler.db")}",
                $"--Scheduler:DataDirectory={Path.Combine(_directory, "uploads")}",
                "--Scheduler:PollInterval=00:00:00.200",
                "--Scheduler:ReconcileInterval=00:00:01",
                "--Scheduler:HeartbeatTimeout=00:00:05",
                "--Scheduler:NodeBackoff=00:00:00.500",
                "--Scheduler:RetryBackoffBase=00:00:00.100",
                "--Scheduler:RetryBackoffMax=00:00:00.400",
                "--Serilog:MinimumLevel:Default=Warning",
                $"--Aws:AccessKeyId={FakeAws.AccessKeyId}",
                $"--Aws:SecretAccessKey={FakeAws.SecretAccessKey}",
                "--Aws:RetryDelay=00:00:00.050",
                "--Aws:EcsNodes:0:Name=ecs-test",
                $"--Aws:EcsNodes:0:Region={FakeAws.Region}",
                $"--Aws:EcsNodes:0:Cluster={FakeAws.Cluster}",
                "--Aws:EcsNodes:0:TaskDefinition=drover-job",
                "--Aws:EcsNodes:0:ContainerName=main",
                "--Aws:EcsNodes:0:LogGroup=/drover/jobs",
                "--Aws:EcsNodes:0:LogStreamPrefix=drover",
                $"--Aws:EcsNodes:0:EndpointUrl={_fake.Url}",
                "--Aws:EcsNodes:0:LogPollInterval=00:00:00.100",
                .. _extra,
            ]);
            await _app.StartAsync();
            Client = new HttpClient { BaseAddress = new Uri(_app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
        }

        public async Task StopAsync()
        {
            Client.Dispose();
            if (_app is not null)
            {
                await _app.StopAsync();
                await _app.DisposeAsync();
                _app = null;
            }
        }

        public async Task<long> SubmitAsync(object job)
        {
            using var response = await Client.PostAsJsonAsync("/scheduler/jobs/new", job);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("job_id").GetInt64();
        }

        public async Task<JsonElement> StatusAsync(long id) =>
            await Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{id}/status");

        public async Task<JsonElement> WaitForStateAsync(long id, string state)
        {
            try
            {
                return (JsonElement)await AwsTestHost.WaitFor(async () =>
                {
                    var status = await StatusAsync(id);
                    return status.GetProperty("state").GetString() == state ? (object)status : null;
                }, $"job {id} to be {state}");
            }
            catch (TimeoutException e)
            {
                var record = await Client.GetStringAsync($"/scheduler/jobs/{id}");
                var tasks = string.Join("\n", _fake.Tasks.Select(t => $"{t.StartedBy} {t.LastStatus} {t.ExitCode} {string.Join(' ', t.Command)}"));
                throw new TimeoutException($"{e.Message}: {record}\ntasks:\n{tasks}\nrejected: {string.Join("\n", _fake.Rejections)}", e);
            }
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            Directory.Delete(_directory, recursive: true);
        }
    }

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
        await using var scheduler = new Scheduler(fake);
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
        Assert.Equal("STOPPED", fake.Task(fake.Tasks.Single(t => t.StartedBy == $"drover-{killed}-1").Arn)!.LastStatus);

        var nodes = await scheduler.Client.GetFromJsonAsync<JsonElement>("/scheduler/nodes");
        Assert.Contains("ecs-test", nodes.GetRawText(), StringComparison.Ordinal);
        Assert.Equal(4, fake.TasksCreated);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_placement_failure_is_recorded_with_its_reason_and_a_lost_task_is_node_lost()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new Scheduler(fake, "--Aws:EcsNodes:0:MissingGrace=00:00:01");
        await scheduler.StartAsync();
        fake.PlacementFailures.Enqueue("RESOURCE:MEMORY");

        var refused = await scheduler.SubmitAsync(Job(["true"]));
        var refusedStatus = await scheduler.WaitForStateAsync(refused, "stopped");
        Assert.Equal("placement_failed", refusedStatus.GetProperty("reason").GetString());
        var record = await scheduler.Client.GetStringAsync($"/scheduler/jobs/{refused}");
        Assert.Contains("RESOURCE:MEMORY", record, StringComparison.Ordinal);

        var lost = await scheduler.SubmitAsync(Job(["sleep", "60"]));
        await scheduler.WaitForStateAsync(lost, "running");
        fake.Forget(fake.Tasks.Single(t => t.StartedBy == $"drover-{lost}-1").Arn);
        var lostRecord = await AwsTestHost.WaitFor(async () =>
        {
            var job = await scheduler.Client.GetFromJsonAsync<JsonElement>($"/scheduler/jobs/{lost}");
            return job.GetProperty("attempts")[0].TryGetProperty("reason", out var reason) && reason.GetString() == "node_lost" ? (object)job : null;
        }, "the first attempt to be lost");
        Assert.NotNull(lostRecord);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_restarted_scheduler_finds_its_running_tasks_and_starts_none_twice()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var scheduler = new Scheduler(fake, "--Aws:EcsNodes:0:Slots=20");
        await scheduler.StartAsync();
        // More than a handful: after the restart they are found with one listing of the cluster, not one call each.
        // The tasks wait for a file, so that all are still running when the scheduler comes back, however slow the machine.
        var go = Path.Combine(Path.GetTempPath(), $"drover-ecs-go-{Guid.NewGuid():N}");
        var jobs = new List<long>();
        for (var i = 0; i < 12; i++)
            jobs.Add(await scheduler.SubmitAsync(Job(
                ["sh", "-c", "while [ ! -e \"$1\" ]; do sleep 0.1; done; echo survived $2", "job", go, $"{i}"])));
        foreach (var job in jobs)
            await scheduler.WaitForStateAsync(job, "running");

        await scheduler.StopAsync();
        var listingsBefore = fake.Calls.Count(c => c == "ListTasks");
        var lookupsBefore = fake.ListsByStartedBy;
        await scheduler.StartAsync();
        await AwsTestHost.WaitFor(async () => fake.Calls.Count(c => c == "ListTasks") > listingsBefore ? "" : null, "the restarted scheduler to look");
        await File.WriteAllTextAsync(go, "");

        foreach (var job in jobs)
            Assert.Equal("good", (await scheduler.WaitForStateAsync(job, "stopped")).GetProperty("status").GetString());
        Assert.Equal(12, fake.TasksCreated);
        // Found again with one listing (running and stopped), not two calls for each of the twelve.
        Assert.Equal(2, fake.Calls.Count(c => c == "ListTasks") - listingsBefore);
        Assert.Equal(lookupsBefore, fake.ListsByStartedBy);
        File.Delete(go);
        for (var i = 0; i < jobs.Count; i++)
            Assert.Equal($"survived {i}\n", await scheduler.Client.GetStringAsync($"/scheduler/jobs/{jobs[i]}/log"));
        Assert.Empty(fake.Rejections);
    }
}
