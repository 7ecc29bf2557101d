using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>The seed's sample operation script, step by step, over real HTTP against a scheduler and two Processors.</summary>
public class SeedScriptTests() : ClusterTest(processors: 2)
{
    [Fact]
    public async Task The_sample_operation_script_works_with_curl_style_calls()
    {
        var target = new Uri(Cluster.SchedulerAddress, "/healthz");

        // A user requests a new job, form-encoded as in the seed; the answer names the request and the job.
        using var posted = await Cluster.PostFormAsync("/scheduler/jobs/new", ("command", $"curl -sf \"{target}\""));
        Assert.Equal(HttpStatusCode.Accepted, posted.StatusCode);
        var answer = (await posted.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!;
        Assert.False(string.IsNullOrEmpty(answer.RequestId));
        Assert.Equal($"/scheduler/jobs/{answer.JobId}", answer.Href);
        Assert.Equal(answer.Href, posted.Headers.Location?.ToString());

        // The same job as the seed's JSON (with "command" for "exec").
        var json = $$"""{"commands": [{"command": ["curl", "-sf", "{{target}}"]}]}""";
        var second = await Cluster.SubmitAsync(json);

        // Nodes a job can go to, in the seed's shape.
        using var available = await Cluster.Client.GetAsync("/scheduler/nodes/available");
        using var document = JsonDocument.Parse(await available.Content.ReadAsStringAsync());
        var nodes = document.RootElement.GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal(2, nodes.Count);
        foreach (var node in nodes)
        {
            Assert.StartsWith("n", node.GetProperty("name").GetString());
            Assert.Equal(JsonValueKind.Array, node.GetProperty("ipv4").ValueKind);
            Assert.False(string.IsNullOrEmpty(node.GetProperty("hostname").GetString()));
            Assert.StartsWith("http://127.0.0.1:", node.GetProperty("uri").GetString());
        }

        // GET /scheduler/jobs as text: ids, one a line.
        var request = new HttpRequestMessage(HttpMethod.Get, "/scheduler/jobs");
        request.Headers.Accept.ParseAdd("text/plain");
        using var list = await Cluster.Client.SendAsync(request);
        Assert.Equal("text/plain", list.Content.Headers.ContentType?.MediaType);
        Assert.Equal($"{answer.JobId}\n{second}\n", await list.Content.ReadAsStringAsync());

        // POST /scheduler/jobs/N/update asks the node and answers the status.
        using var update = await Cluster.Client.PostAsync($"/scheduler/jobs/{answer.JobId}/update", null);
        Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        var updated = (await update.Content.ReadFromJsonAsync<JobStatusView>(DroverJson.Options))!;
        Assert.Equal(answer.JobId, updated.JobId);

        // The user asks for the status: stopped, good, on a node, with created_at.
        foreach (var id in new[] { answer.JobId, second })
        {
            var status = await Cluster.WaitStoppedAsync(id);
            Assert.Equal(JobStatus.Good, status.Status);
            Assert.NotNull(status.Node);
            using var raw = await Cluster.Client.GetAsync($"/scheduler/jobs/{id}/status");
            using var seedShape = JsonDocument.Parse(await raw.Content.ReadAsStringAsync());
            Assert.Equal("stopped", seedShape.RootElement.GetProperty("state").GetString());
            Assert.Equal("good", seedShape.RootElement.GetProperty("status").GetString());
            Assert.True(seedShape.RootElement.TryGetProperty("created_at", out _));
            Assert.StartsWith("n", seedShape.RootElement.GetProperty("node").GetString());
        }

        // The whole record: the attempt, where and when it ran, and the backend's reference.
        var record = await Cluster.JobAsync(answer.JobId);
        var attempt = Assert.Single(record.Attempts);
        // <job>-<attempt>-<the store's incarnation>: a wiped or restored store never repeats a request id (issue 12).
        Assert.Matches($"^{answer.JobId}-1-[0-9a-f]{{12}}$", attempt.BackendRef);
        Assert.Equal(0, attempt.ExitCode);
        Assert.NotNull(attempt.StartedAt);
        Assert.NotNull(attempt.FinishedAt);
        Assert.Equal(["curl", "-sf", target.ToString()], record.Spec.Commands[0].Exec);

        // Filters.
        var good = await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?state=stopped&status=good", DroverJson.Options);
        Assert.Equal(2, good!.Jobs.Count);
        var none = await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?state=queued", DroverJson.Options);
        Assert.Empty(none!.Jobs);
        var paged = await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?limit=1", DroverJson.Options);
        Assert.Equal(answer.JobId, Assert.Single(paged!.Jobs).JobId);
        Assert.NotNull(paged.Next);
        var next = await Cluster.Client.GetFromJsonAsync<JobPage>(paged.Next, DroverJson.Options);
        Assert.Equal(second, Assert.Single(next!.Jobs).JobId);
    }

    [Fact]
    public async Task A_job_sees_its_id_attempt_and_the_scheduler_url_and_its_output_is_served()
    {
        var id = await Cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromShell("echo \"id=$DROVER_JOB_ID attempt=$DROVER_ATTEMPT url=$DROVER_URL own=$OWN\"")],
            Environment = new Dictionary<string, string> { ["OWN"] = "mine" },
        });
        await Cluster.WaitStoppedAsync(id);
        var log = await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log");
        Assert.Equal($"id={id} attempt=1 url={Cluster.SchedulerAddress.ToString().TrimEnd('/')} own=mine\n", log);
        Assert.Equal("own=mine\n", await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log?offset={log.IndexOf("own", StringComparison.Ordinal)}"));
    }

    [Fact]
    public async Task Files_uploaded_with_a_job_land_in_its_working_directory_on_the_node()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("cat input.txt"), "command" },
            { new StringContent("3"), "max_attempts" },
            { new ByteArrayContent("uploaded content\n"u8.ToArray()), "file", "input.txt" },
        };
        using var response = await Cluster.Client.PostAsync("/scheduler/jobs/new", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal(JobStatus.Good, status.Status);
        Assert.Equal("uploaded content\n", await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log"));
        Assert.Equal(["input.txt"], (await Cluster.JobAsync(id)).Spec.Files);
    }

    [Fact]
    public async Task A_multipart_job_may_carry_its_spec_as_a_JSON_part()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"commands": [{"exec": ["cat", "a.txt", "b.txt"]}], "max_attempts": 1}""", System.Text.Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("A\n"u8.ToArray()), "file", "a.txt" },
            { new ByteArrayContent("B\n"u8.ToArray()), "file", "b.txt" },
        };
        using var response = await Cluster.Client.PostAsync("/scheduler/jobs/new", form);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
        Assert.Equal("A\nB\n", await Cluster.Client.GetStringAsync($"/scheduler/jobs/{id}/log"));
        // Kept until the job stopped, then removed.
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(Cluster.Directory, "uploads")));
    }
}
