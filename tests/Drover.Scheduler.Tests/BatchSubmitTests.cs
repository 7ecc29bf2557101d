using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;

namespace Drover.Scheduler.Tests;

/// <summary><c>POST /scheduler/jobs/batch</c> through real Processors: many independent jobs in one request, each run on its own.</summary>
public class BatchSubmitTests() : ClusterTest(0, $"--Scheduler:JobTokenKey={Key}")
{
    private const string Key = "batch-job-key";

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.AddNodeAsync("n1", slots: 16);
        await Cluster.AddNodeAsync("n2", slots: 16);
    }

    internal static string Batch(int count, Func<int, string> job) =>
        "{\"jobs\": [" + string.Join(',', Enumerable.Range(0, count).Select(job)) + "]}";

    internal static string True(string requestId) => $$"""{"commands": [{"exec": ["true"]}], "max_attempts": 1, "request_id": "{{requestId}}"}""";

    internal static async Task<BatchAnswer> SubmitBatchAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/scheduler/jobs/batch", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return JsonSerializer.Deserialize<BatchAnswer>(body, DroverJson.Options)!;
    }

    internal static async Task<IReadOnlyList<JobStatusView>> AllJobsAsync(Cluster cluster) =>
        (await cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?limit=10000", DroverJson.Options))!.Jobs;

    [Fact]
    public async Task A_batch_of_500_runs_every_job_in_order_and_sent_again_creates_nothing()
    {
        const int Count = 500;
        var json = Batch(Count, i => True($"sweep-{i}"));
        var answer = await SubmitBatchAsync(Cluster.Client, json);

        Assert.Equal(Enumerable.Range(0, Count).Select(i => $"sweep-{i}"), answer.Jobs.Select(j => j.RequestId));
        Assert.Equal(answer.Jobs.Select(j => j.JobId).Order(), answer.Jobs.Select(j => j.JobId));
        Assert.Equal(Count, answer.Jobs.Select(j => j.JobId).Distinct().Count());
        Assert.All(answer.Jobs, j => Assert.Equal($"/scheduler/jobs/{j.JobId}", j.Href));

        IReadOnlyList<JobStatusView> jobs = [];
        await Cluster.Eventually(async () => (jobs = await AllJobsAsync(Cluster)).All(j => j.State == JobState.Stopped), 180,
            () => $"{jobs.Count(j => j.State != JobState.Stopped)} of {jobs.Count} jobs to stop");
        Assert.Equal(Count, jobs.Count);
        Assert.All(jobs, j => Assert.Equal(JobStatus.Good, j.Status));

        // Sent again after a lost answer: the same jobs come back and none is made.
        var again = await SubmitBatchAsync(Cluster.Client, json);
        Assert.Equal(answer.Jobs, again.Jobs);
        Assert.Equal(Count, (await AllJobsAsync(Cluster)).Count);

        // Independent jobs, not a DAG: each one's DAG is itself alone.
        foreach (var job in new[] { answer.Jobs[0], answer.Jobs[Count / 2], answer.Jobs[^1] })
        {
            var dag = await DagTests.DagAsync(Cluster, job.JobId);
            Assert.Equal(job.JobId, dag.Root);
            Assert.Equal([job.JobId], dag.Jobs.Select(j => j.JobId));
            Assert.Empty(dag.Edges);
        }
    }

    [Fact]
    public async Task A_job_tokens_batch_makes_children_of_the_calling_job()
    {
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("sleep", "30")], MaxAttempts = 1 });
        await Cluster.WaitForAsync(parent, s => s.State == JobState.Running);
        using var job = new HttpClient { BaseAddress = Cluster.SchedulerAddress };
        job.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", JobTokens.Issue(parent, 1, parent, Key));

        var answer = await SubmitBatchAsync(job, Batch(3, i => True($"child-{i}")));
        foreach (var child in answer.Jobs)
            Assert.Equal(parent, (await Cluster.JobAsync(child.JobId)).Parent);
        Assert.Equal(answer.Jobs.Select(j => j.JobId), (await Cluster.JobAsync(parent)).Children);
        using var kill = await Cluster.Client.PostAsync($"/scheduler/jobs/{parent}/kill", null);
    }
}

/// <summary>A refused batch leaves nothing behind: every problem names its item and field.</summary>
public class BatchBadInputTests() : ClusterTest(0)
{
    private const string Good = """{"commands": [{"exec": ["true"]}]}""";

    private async Task<JsonElement> AssertRefusedAsync(string json, HttpStatusCode expected, params string[] fields)
    {
        using var response = await Cluster.PostJsonAsync("/scheduler/jobs/batch", json);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var errors = JsonDocument.Parse(body).RootElement.GetProperty("errors").Clone();
        foreach (var field in fields)
            Assert.True(errors.TryGetProperty(field, out _), $"no error for {field}: {body}");
        return errors;
    }

    private async Task<int> CountJobsAsync() => (await BatchSubmitTests.AllJobsAsync(Cluster)).Count;

    [Fact]
    public async Task One_bad_item_refuses_the_whole_batch_naming_it()
    {
        var errors = await AssertRefusedAsync($$"""{"jobs": [{{Good}}, {{Good}}, {"commands": []}, {{Good}}]}""", HttpStatusCode.BadRequest, "jobs[2].commands");
        Assert.Single(errors.EnumerateObject());
        // The link checks of the single submit, under the item's name.
        await AssertRefusedAsync($$"""{"jobs": [{{Good}}, {"commands": [{"exec": ["true"]}], "depends_on": [987654]}]}""",
            HttpStatusCode.BadRequest, "jobs[1].depends_on[0]");
        await AssertRefusedAsync($$"""{"jobs": [{{Good}}, {"commands": [{"exec": ["true"]}], "parent": 987655}]}""", HttpStatusCode.BadRequest, "jobs[1].parent");
        await AssertRefusedAsync($$"""{"jobs": [{{Good}}, {"commands": [{"exec": ["true"]}], "timeout_seconds": "soon"}]}""", HttpStatusCode.BadRequest, "jobs[1].timeout_seconds");
        await AssertRefusedAsync($$"""{"jobs": [{{Good}}, null]}""", HttpStatusCode.BadRequest, "jobs[1]");
        await AssertRefusedAsync("""{"jobs": []}""", HttpStatusCode.BadRequest, "jobs");
        await AssertRefusedAsync("{\"jobs\": {\"a\": " + Good + "}}", HttpStatusCode.BadRequest, "jobs");
        await AssertRefusedAsync($$"""{"request_id": "whole", "jobs": [{{Good}}]}""", HttpStatusCode.BadRequest, "request_id");
        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public async Task A_request_id_twice_in_a_batch_and_files_are_refused()
    {
        await AssertRefusedAsync(
            BatchSubmitTests.Batch(4, i => BatchSubmitTests.True(i is 0 or 3 ? "same" : $"other-{i}")), HttpStatusCode.BadRequest,
            "jobs[0].request_id", "jobs[3].request_id");
        var errors = await AssertRefusedAsync($$"""{"jobs": [{{Good}}, {"commands": [{"exec": ["cat", "data.csv"]}], "files": ["data.csv"]}]}""",
            HttpStatusCode.BadRequest, "jobs[1].files");
        Assert.Contains("multipart", errors.GetProperty("jobs[1].files")[0].GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public async Task A_form_or_other_content_type_is_a_415()
    {
        using var form = await Cluster.PostFormAsync("/scheduler/jobs/batch", ("command", "true"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal("application/problem+json", form.Content.Headers.ContentType?.MediaType);
        using var text = await Cluster.Client.PostAsync("/scheduler/jobs/batch", new StringContent("true", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, text.StatusCode);
        // curl -d without a content type: JSON sent as a form is told which header is missing.
        using var curl = await Cluster.Client.PostAsync("/scheduler/jobs/batch",
            new StringContent($$"""{"jobs": [{{Good}}]}""", Encoding.UTF8, "application/x-www-form-urlencoded"));
        Assert.Equal(HttpStatusCode.BadRequest, curl.StatusCode);
        Assert.Contains("Content-Type", await curl.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(0, await CountJobsAsync());
    }

    [Fact]
    public async Task A_request_id_already_used_answers_with_that_job()
    {
        var earlier = await Cluster.SubmitAsync(BatchSubmitTests.True("made-before"));
        var answer = await BatchSubmitTests.SubmitBatchAsync(Cluster.Client,
            BatchSubmitTests.Batch(3, i => i == 1 ? BatchSubmitTests.True("made-before") : Good));
        Assert.Equal(earlier, answer.Jobs[1].JobId);
        Assert.Equal(3, answer.Jobs.Select(j => j.JobId).Distinct().Count());
        // The generated request ids are the single submit's: 32 hex digits.
        Assert.All(new[] { answer.Jobs[0], answer.Jobs[2] }, j => Assert.Matches("^[0-9a-f]{32}$", j.RequestId));
        Assert.Equal(3, await CountJobsAsync());
    }

    [Fact]
    public async Task The_openapi_example_is_taken_as_it_is()
    {
        var document = System.Text.Json.Nodes.JsonNode.Parse(await Cluster.Client.GetStringAsync("/openapi/v1.json"))!;
        var operation = document["paths"]!["/scheduler/jobs/batch"]!["post"]!;
        Assert.Contains("Scheduler:MaxDagJobs", operation["description"]!.GetValue<string>(), StringComparison.Ordinal);
        var example = operation["requestBody"]!["content"]!["application/json"]!["example"]!;
        var answer = await BatchSubmitTests.SubmitBatchAsync(Cluster.Client, example.ToJsonString());
        Assert.Equal(["sweep-1", "sweep-2"], answer.Jobs.Select(j => j.RequestId));
    }
}

/// <summary>At most Scheduler:MaxDagJobs jobs a batch.</summary>
public class BatchLimitTests() : ClusterTest(0, "--Scheduler:MaxDagJobs=5")
{
    [Fact]
    public async Task More_jobs_than_MaxDagJobs_is_a_413()
    {
        using var over = await Cluster.PostJsonAsync("/scheduler/jobs/batch", BatchSubmitTests.Batch(6, i => BatchSubmitTests.True($"limit-{i}")));
        var body = await over.Content.ReadAsStringAsync();
        Assert.True(over.StatusCode == HttpStatusCode.RequestEntityTooLarge, $"{(int)over.StatusCode}: {body}");
        Assert.Contains("Scheduler:MaxDagJobs", body, StringComparison.Ordinal);
        Assert.Empty(await BatchSubmitTests.AllJobsAsync(Cluster));

        var answer = await BatchSubmitTests.SubmitBatchAsync(Cluster.Client, BatchSubmitTests.Batch(5, i => BatchSubmitTests.True($"limit-{i}")));
        Assert.Equal(5, answer.Jobs.Count);
    }
}

public sealed class BatchSubmitTestsOnPostgres : BatchSubmitTests
{
    protected override bool OnPostgres => true;
}

public sealed class BatchBadInputTestsOnPostgres : BatchBadInputTests
{
    protected override bool OnPostgres => true;
}
