using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>
/// <c>POST /processor/jobs/new</c> with a JSON array (feature batch_start) and <c>POST /processor/jobs/status</c>
/// (feature batch_status): each item is answered as if it had come alone, and the answer comes once all are on disk.
/// </summary>
public sealed class BatchTests : IDisposable
{
    private static readonly string[][] TrueCommand = [["true"]];
    private readonly string _state = ProcessorHost.NewStateDirectory();

    public void Dispose() => ProcessorHost.DeleteDirectory(_state);

    private static async Task<NodeStartAnswer[]> StartBatchAsync(ProcessorHost host, string json)
    {
        using var response = await host.PostJsonAsync("/processor/jobs/new", json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<NodeStartAnswer[]>(body, DroverJson.Options)!;
    }

    [Fact]
    public async Task A_batch_with_one_bad_item_accepts_the_others_and_refuses_that_one_with_a_problem_naming_it()
    {
        await using var host = await ProcessorHost.StartAsync(_state, "--Processor:Slots", "8");
        var answers = await StartBatchAsync(host, """
            [{"commands": [["echo", "one"]], "request_id": "b-one"},
             {"commands": [], "request_id": "b-bad"},
             {"commands": [["echo", "three"]], "request_id": "b-three"},
             {"commands": "not a list"}]
            """);

        Assert.Equal(4, answers.Length);
        Assert.Equal([201, 400, 201, 400], answers.Select(a => a.Status));
        Assert.Equal("b-one", answers[0].Job!.RequestId);
        Assert.Equal("b-three", answers[2].Job!.RequestId);
        var bad = answers[1].Problem!;
        Assert.Null(answers[1].Job);
        Assert.Equal(400, bad.Status);
        Assert.Contains("commands", bad.Errors!.Keys);
        Assert.Contains("b-bad", bad.Detail, StringComparison.Ordinal);
        Assert.Contains("item 3", answers[3].Problem!.Detail, StringComparison.Ordinal);
        Assert.Contains("commands", answers[3].Problem!.Errors!.Keys);

        // The bad one left nothing on disk; the good ones run to the end.
        Assert.False(Directory.Exists(Path.Combine(host.JobsRoot, "b-bad")));
        Assert.Equal(JobStatus.Good, (await host.WaitStoppedAsync("b-one")).Status);
        Assert.Equal("three\n", await host.LogAsync("b-three"));
        Assert.Empty(Directory.EnumerateDirectories(host.JobsRoot, ".new-*"));
    }

    [Fact]
    public async Task Items_beyond_the_slots_get_429_alone_and_a_repeated_id_is_answered_200()
    {
        await using var host = await ProcessorHost.StartAsync(_state, "--Processor:Slots", "2");
        var answers = await StartBatchAsync(host, """
            [{"commands": [["sleep", "30"]], "request_id": "s-1"},
             {"commands": [["sleep", "30"]], "request_id": "s-1"},
             {"commands": [["sleep", "30"]], "request_id": "s-2"},
             {"commands": [["sleep", "30"]], "request_id": "s-3"}]
            """);
        Assert.Equal([201, 200, 201, 429], answers.Select(a => a.Status));
        Assert.Equal("s-1", answers[1].Job!.RequestId);
        Assert.Contains("slots", answers[3].Problem!.Errors!.Keys);
        Assert.False(Directory.Exists(Path.Combine(host.JobsRoot, "s-3")));

        // The same batch again is a repeat of every accepted item.
        answers = await StartBatchAsync(host, """[{"commands": [["sleep", "30"]], "request_id": "s-2"}]""");
        Assert.Equal(200, Assert.Single(answers).Status);
    }

    [Fact]
    public async Task Every_job_of_an_answered_batch_is_on_disk_and_survives_a_restart()
    {
        var ids = Enumerable.Range(0, 20).Select(i => $"r-{i}").ToList();
        var batch = JsonSerializer.Serialize(ids.Select(id => new { commands = new[] { new { exec = new[] { "echo", id } } }, request_id = id }));
        await using (var first = await ProcessorHost.StartAsync(_state, "--Processor:Slots", "32"))
        {
            var answers = await StartBatchAsync(first, batch);
            Assert.All(answers, a => Assert.Equal(201, a.Status));
            // On disk by the time the answer came, in the seed's layout.
            foreach (var id in ids)
            {
                Assert.True(File.Exists(Path.Combine(first.JobsRoot, id, "spec.json")), id);
                Assert.True(File.Exists(Path.Combine(first.JobsRoot, id, "status")), id);
            }
            foreach (var id in ids)
                await first.WaitStoppedAsync(id);
            await first.StopAsync();
        }

        await using var second = await ProcessorHost.StartAsync(_state);
        foreach (var id in ids)
        {
            var status = await second.StatusAsync(id);
            Assert.Equal(JobStatus.Good, status.Status);
            Assert.Equal(0, status.ExitCode);
            Assert.Equal(id + "\n", await second.LogAsync(id));
        }
    }

    [Fact]
    public async Task A_batch_that_is_not_json_or_too_large_is_refused_whole()
    {
        await using var host = await ProcessorHost.StartAsync(_state);
        using (var broken = await host.PostJsonAsync("/processor/jobs/new", """[{"commands": [["true"]]}"""))
            await ProcessorHost.AssertProblemAsync(broken, HttpStatusCode.BadRequest, "body");
        using (var notJobs = await host.PostJsonAsync("/processor/jobs/new", """[{"commands": [["true"]]}, ["echo", "hi"]]"""))
            await ProcessorHost.AssertProblemAsync(notJobs, HttpStatusCode.BadRequest, "[1]");
        var tooMany = JsonSerializer.Serialize(Enumerable.Range(0, NodeBatchLimits.MaxStartBatch + 1).Select(_ => new { commands = TrueCommand }));
        using (var large = await host.PostJsonAsync("/processor/jobs/new", tooMany))
            await ProcessorHost.AssertProblemAsync(large, HttpStatusCode.BadRequest, "body");
        host.AssertNothingWritten();
    }

    [Fact]
    public async Task The_status_poll_by_post_answers_the_known_jobs_once_each()
    {
        await using var host = await ProcessorHost.StartAsync(_state);
        var one = await host.SubmitAsync("""{"commands": [["echo", "a"]], "request_id": "p-1"}""");
        var two = await host.SubmitAsync("""{"commands": [["echo", "b"]], "request_id": "p-2"}""");
        await host.WaitStoppedAsync(one);
        var many = Enumerable.Range(0, 900).Select(i => $"unknown-{i}-{Guid.NewGuid():N}").Concat([one, two, one]).ToList();

        using var response = await host.PostJsonAsync("/processor/jobs/status", JsonSerializer.Serialize(new { request_ids = many }));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var list = (await response.Content.ReadFromJsonAsync<NodeJobList>(DroverJson.Options))!;
        Assert.Equal([one, two], list.Jobs.Select(j => j.RequestId).Order());
        Assert.Equal(JobState.Stopped, list.Jobs.Single(j => j.RequestId == one).State);

        var tooMany = Enumerable.Range(0, NodeBatchLimits.MaxStatusQuery + 1).Select(i => $"x{i}");
        using (var refused = await host.PostJsonAsync("/processor/jobs/status", JsonSerializer.Serialize(new { request_ids = tooMany })))
            await ProcessorHost.AssertProblemAsync(refused, HttpStatusCode.BadRequest, "request_ids");
        using (var bad = await host.PostJsonAsync("/processor/jobs/status", "{\"request_ids\": 7}"))
            await ProcessorHost.AssertProblemAsync(bad, HttpStatusCode.BadRequest, "request_ids");
    }
}
