using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Every kind of bad input gets a 4xx problem+json naming the field, and nothing is written.</summary>
public sealed class BadInputTests(BadInputTests.Fixture fixture) : IClassFixture<BadInputTests.Fixture>
{
    private readonly Cluster _cluster = fixture.Cluster;

    /// <summary>One cluster for the whole class: every case here leaves (or should leave) nothing behind.</summary>
    public sealed class Fixture : IAsyncLifetime
    {
        public Cluster Cluster { get; private set; } = null!;

        public async Task InitializeAsync() => Cluster = await Cluster.StartAsync(processors: 1, "--Scheduler:MaxRequestBodySize=4096");

        public async Task DisposeAsync() => await Cluster.DisposeAsync();
    }

    [Theory]
    [InlineData("""{"commands": [{"exec": ["true"]}], "max_attempts": 0}""", "max_attempts")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "max_attempts": 10000}""", "max_attempts")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "timeout_seconds": -1}""", "timeout_seconds")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "timeout_seconds": "soon"}""", "timeout_seconds")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "max_attempts": "3"}""", "max_attempts")]
    [InlineData("""{"commands": "echo hi"}""", "commands")]
    [InlineData("""{"commands": []}""", "commands")]
    [InlineData("""{"commands": [{"exec": []}]}""", "commands[0].exec")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "environment": {"A": 1}}""", "environment.A")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "request_id": "../x"}""", "request_id")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "constraints": {"labels": "gpu"}}""", "constraints.labels")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "priority": 1.5}""", "priority")]
    [InlineData("""{"commands": [{"exec": ["true"]}""", "commands[1]")]
    [InlineData("""not json""", "body")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "timeout_seconds": 5000000}""", "timeout_seconds")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "request_id": "abc\n"}""", "request_id")]
    [InlineData("""{"commands": [{"exec": ["true"]}], "environment": {"A\n": "1"}}""", "environment.A\n")]
    public async Task A_bad_JSON_job_is_a_400_naming_the_field(string json, string field)
    {
        var before = await CountJobsAsync();
        using var response = await _cluster.PostJsonAsync("/scheduler/jobs/new", json);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(before, await CountJobsAsync());
    }

    [Theory]
    [InlineData("command", "curl \"https://example.org/", "command")]
    [InlineData("command", "echo 'open", "command")]
    [InlineData("max_attempts", "0", "max_attempts")]
    [InlineData("max_attempts", "many", "max_attempts")]
    [InlineData("timeout", "-5", "timeout_seconds")]
    [InlineData("env", "NOEQUALS", "env")]
    [InlineData("label", "=x", "label")]
    public async Task A_bad_form_field_is_a_400_naming_it(string key, string value, string field)
    {
        var before = await CountJobsAsync();
        var fields = key == "command" ? new[] { (key, value) } : [("command", "true"), (key, value)];
        using var response = await _cluster.PostFormAsync("/scheduler/jobs/new", fields);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
        Assert.Equal(before, await CountJobsAsync());
    }

    [Fact]
    public async Task A_body_over_the_size_limit_is_a_413_and_writes_nothing()
    {
        var before = await CountJobsAsync();
        var json = JsonSerializer.Serialize(new JobSpec { Commands = [CommandSpec.FromArgv("echo", new string('x', 8000))] }, DroverJson.Options);
        using var response = await PostWaitingForContinueAsync(new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        await AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge, "body");

        using var form = new MultipartFormDataContent
        {
            { new StringContent("cat big.bin"), "command" },
            { new ByteArrayContent(new byte[10_000]), "file", "big.bin" },
        };
        using var upload = await PostWaitingForContinueAsync(form);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, upload.StatusCode);
        Assert.Equal(before, await CountJobsAsync());
        Assert.False(Directory.Exists(Path.Combine(_cluster.Directory, "uploads")) && Directory.EnumerateFileSystemEntries(Path.Combine(_cluster.Directory, "uploads")).Any());
    }

    /// <summary>
    /// Sends the body only after the server said to (<c>Expect: 100-continue</c>). A 413 is answered from the declared
    /// length before the body is read, and the connection then closed; a client already writing the body could meet
    /// that close (a broken pipe) before it reads the answer.
    /// </summary>
    private async Task<HttpResponseMessage> PostWaitingForContinueAsync(HttpContent content)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/scheduler/jobs/new") { Content = content };
        request.Headers.ExpectContinue = true;
        return await _cluster.Client.SendAsync(request);
    }

    [Fact]
    public async Task An_unsafe_upload_file_name_is_a_400()
    {
        var before = await CountJobsAsync();
        using var form = new MultipartFormDataContent
        {
            { new StringContent("true"), "command" },
            { new ByteArrayContent([1]), "file", "../escape" },
        };
        using var response = await _cluster.Client.PostAsync("/scheduler/jobs/new", form);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "files.file");
        Assert.Equal(before, await CountJobsAsync());
    }

    [Fact]
    public async Task An_unsupported_content_type_is_a_415()
    {
        using var response = await _cluster.Client.PostAsync("/scheduler/jobs/new", new StringContent("echo hi", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    [Theory]
    [InlineData("GET", "/scheduler/jobs/999")]
    [InlineData("GET", "/scheduler/jobs/999/status")]
    [InlineData("POST", "/scheduler/jobs/999/kill")]
    [InlineData("POST", "/scheduler/jobs/999/update")]
    [InlineData("GET", "/scheduler/jobs/999/log")]
    [InlineData("GET", "/scheduler/queue/999")]
    [InlineData("DELETE", "/scheduler/queue/999")]
    public async Task An_unknown_job_id_is_a_404(string method, string path)
    {
        using var response = await _cluster.Client.SendAsync(new HttpRequestMessage(new HttpMethod(method), path));
        await AssertProblemAsync(response, HttpStatusCode.NotFound, "id");
    }

    [Fact]
    public async Task Bad_list_filters_are_400s_naming_them()
    {
        using var state = await _cluster.Client.GetAsync("/scheduler/jobs?state=sleeping");
        await AssertProblemAsync(state, HttpStatusCode.BadRequest, "state");
        using var limit = await _cluster.Client.GetAsync("/scheduler/jobs?limit=0");
        await AssertProblemAsync(limit, HttpStatusCode.BadRequest, "limit");
    }

    [Fact]
    public async Task A_label_no_node_could_match_is_accepted_stays_queued_and_says_why()
    {
        var id = await _cluster.SubmitAsync("""{"commands": [{"exec": ["true"]}], "constraints": {"labels": {"gpu": "true"}}}""");
        await Cluster.Eventually(async () => (await _cluster.QueueEntryAsync(id)).Reason?.Contains("gpu=true", StringComparison.Ordinal) == true,
            30, "the queue to explain the label");
        var entry = await _cluster.QueueEntryAsync(id);
        Assert.True(entry.Queued);
        Assert.Equal("no node has the labels gpu=true", entry.Reason);
        var queue = await _cluster.Client.GetFromJsonAsync<QueueList>("/scheduler/queue", DroverJson.Options);
        Assert.Equal(id, Assert.Single(queue!.Jobs).JobId);

        // Removed from the queue: stopped as cancelled, and not removable twice.
        using var removed = await _cluster.Client.DeleteAsync($"/scheduler/queue/{id}");
        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
        var status = await _cluster.StatusAsync(id);
        Assert.Equal((JobState.Stopped, JobStatus.Error, StopReason.Cancelled), (status.State, status.Status, status.Reason));
        Assert.False((await _cluster.QueueEntryAsync(id)).Queued);
        using var again = await _cluster.Client.DeleteAsync($"/scheduler/queue/{id}");
        await AssertProblemAsync(again, HttpStatusCode.Conflict, "id");
    }

    private async Task<int> CountJobsAsync() =>
        (await _cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs", DroverJson.Options))!.Jobs.Count;

    [Theory]
    [InlineData("/scheduler/jobs/new", """{"commands": [{"command": ["echo", "a=b"]}], "environment": {}}""")]
    [InlineData("/scheduler/dags/new", """{"jobs": {"a": {"commands": [["true"]]}}}""")]
    [InlineData("/scheduler/jobs/new", """[{"exec": ["true"]}]""")]
    public async Task JSON_sent_with_curls_default_form_content_type_is_a_400_that_says_to_add_the_header(string path, string json)
    {
        var before = await CountJobsAsync();
        // What curl -d '{...}' sends when no -H 'Content-Type: application/json' is given.
        using var content = new StringContent(json, Encoding.UTF8, "application/x-www-form-urlencoded");
        using var response = await _cluster.Client.PostAsync(path, content);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest, "Content-Type");
        var body = await response.Content.ReadAsStringAsync();
        Assert.Contains("-H 'Content-Type: application/json'", body, StringComparison.Ordinal);
        Assert.Equal(before, await CountJobsAsync());
    }

    [Fact]
    public async Task A_form_whose_value_holds_braces_is_still_a_form()
    {
        using var response = await _cluster.PostFormAsync("/scheduler/jobs/new", [("command", "echo {\"a\": 1}")]);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
    }

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(expected == response.StatusCode, $"{(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.True(problem.RootElement.TryGetProperty("errors", out var errors), body);
        Assert.True(errors.TryGetProperty(field, out _), $"no error for '{field}' in {body}");
    }
}
