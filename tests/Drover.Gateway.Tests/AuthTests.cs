using System.Net;
using System.Text;
using System.Text.Json;
using Drover.ServiceDefaults;

namespace Drover.Gateway.Tests;

[Collection(TrioGroup.Name)]
public sealed class AuthTests(Trio trio)
{
    private const string EchoJob = """{"commands": [{"exec": ["echo", "hi"]}]}""";

    [Fact]
    public async Task Missing_or_wrong_key_is_a_401_problem()
    {
        using var anonymous = trio.Client(null);
        using var missing = await anonymous.GetAsync("/scheduler/jobs");
        await Problems.AssertProblemAsync(missing, HttpStatusCode.Unauthorized);
        Assert.Contains("Bearer", missing.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        using var wrong = trio.Client("not-a-key");
        using var refused = await wrong.GetAsync("/scheduler/jobs");
        await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized);

        // A service token is not an API key: it never works from outside.
        using var service = trio.Client(Trio.SchedulerToken);
        using var serviceRefused = await service.GetAsync("/scheduler/jobs");
        await Problems.AssertProblemAsync(serviceRefused, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Read_key_reads_and_may_change_nothing()
    {
        using var admin = trio.Client(Trio.AdminKey);
        var id = await Trio.SubmitAsync(admin, EchoJob);
        using var reader = trio.Client(Trio.ReadKey);

        foreach (var path in new[] { "/scheduler/jobs", $"/scheduler/jobs/{id}", $"/scheduler/jobs/{id}/status", "/scheduler/nodes" })
        {
            using var allowed = await reader.GetAsync(path);
            Assert.True(allowed.StatusCode == HttpStatusCode.OK, $"GET {path}: {(int)allowed.StatusCode}");
        }
        await AssertForbiddenAsync(reader, HttpMethod.Post, "/scheduler/jobs/new", EchoJob);
        await AssertForbiddenAsync(reader, HttpMethod.Post, $"/scheduler/jobs/{id}/kill");
        await AssertForbiddenAsync(reader, HttpMethod.Get, "/processor/info");
        await AssertForbiddenAsync(reader, HttpMethod.Get, $"/nodes/{Trio.NodeName}/processor/info");
    }

    [Fact]
    public async Task Submit_key_submits_updates_and_kills_but_cannot_manage_nodes_or_queue()
    {
        using var submitter = trio.Client(Trio.SubmitKey);
        var id = await Trio.SubmitAsync(submitter, """{"commands": [{"exec": ["sleep", "30"]}]}""");
        using var read = await submitter.GetAsync($"/scheduler/jobs/{id}");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);
        using var update = await submitter.PostAsync($"/scheduler/jobs/{id}/update", null);
        Assert.True(update.IsSuccessStatusCode, $"update: {(int)update.StatusCode} {await update.Content.ReadAsStringAsync()}");
        using var kill = await submitter.PostAsync($"/scheduler/jobs/{id}/kill", null);
        Assert.True(kill.IsSuccessStatusCode, $"kill: {(int)kill.StatusCode} {await kill.Content.ReadAsStringAsync()}");

        await AssertForbiddenAsync(submitter, HttpMethod.Post, $"/scheduler/nodes/{Trio.NodeName}/drain");
        await AssertForbiddenAsync(submitter, HttpMethod.Delete, $"/scheduler/queue/{id}");
        await AssertForbiddenAsync(submitter, HttpMethod.Get, "/processor/info");
        await AssertForbiddenAsync(submitter, HttpMethod.Post, $"/nodes/{Trio.NodeName}/processor/jobs/new", EchoJob);
    }

    [Fact]
    public async Task Admin_key_reaches_processor_and_nodes()
    {
        using var admin = trio.Client(Trio.AdminKey);
        using var processor = await admin.GetAsync("/processor/jobs/status");
        Assert.Equal(HttpStatusCode.OK, processor.StatusCode);
        using var node = await admin.GetAsync($"/nodes/{Trio.NodeName}/processor/jobs/status");
        Assert.Equal(HttpStatusCode.OK, node.StatusCode);
        using var queue = await admin.GetAsync("/scheduler/queue");
        Assert.Equal(HttpStatusCode.OK, queue.StatusCode);
    }

    [Fact]
    public async Task Job_token_submits_and_reads_jobs_and_is_passed_on_so_the_scheduler_records_the_parent()
    {
        using var admin = trio.Client(Trio.AdminKey);
        // A job token is valid while its attempt runs: the parent sleeps while the test speaks with its token.
        var parent = await Trio.SubmitAsync(admin, """{"commands": [{"exec": ["sleep", "30"]}], "max_attempts": 1}""");
        await Trio.WaitForStateAsync(admin, parent, "running");
        using var job = trio.Client(JobTokens.Issue(parent, 1, parent, Trio.JobTokenKey));

        var child = await Trio.SubmitAsync(job, EchoJob);
        using var record = await job.GetAsync($"/scheduler/jobs/{child}");
        var body = await record.Content.ReadAsStringAsync();
        Assert.True(record.StatusCode == HttpStatusCode.OK, body);
        Assert.Equal(parent, JsonDocument.Parse(body).RootElement.GetProperty("parent").GetInt64());

        await AssertForbiddenAsync(job, HttpMethod.Post, $"/scheduler/nodes/{Trio.NodeName}/drain");
        await AssertForbiddenAsync(job, HttpMethod.Post, $"/scheduler/jobs/{child}/kill");
        await AssertForbiddenAsync(job, HttpMethod.Get, "/scheduler/nodes");
        await AssertForbiddenAsync(job, HttpMethod.Get, "/processor/info");
        using var kill = await admin.PostAsync($"/scheduler/jobs/{parent}/kill", null);
        Assert.True(kill.IsSuccessStatusCode, $"kill: {(int)kill.StatusCode}");
    }

    [Fact]
    public async Task Job_token_of_an_attempt_that_does_not_run_is_a_401_through_the_gateway()
    {
        // Failure 3 of issue 12 (the scheduler's tests take a real stopped job's token from its log): the gateway passes
        // the scheduler's refusal on, whatever the signature says.
        using var admin = trio.Client(Trio.AdminKey);
        var id = await Trio.SubmitAsync(admin, """{"commands": [{"exec": ["echo", "done"]}], "max_attempts": 1}""");
        await Trio.WaitForStateAsync(admin, id, "stopped");
        using var stale = trio.Client(JobTokens.Issue(id, 2, id, Trio.JobTokenKey));
        using var response = await stale.PostAsync("/scheduler/jobs/new", new StringContent(EchoJob, Encoding.UTF8, "application/json"));
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        Assert.Contains("no longer placed or running", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Job_token_signed_with_another_key_is_a_401()
    {
        using var forged = trio.Client(JobTokens.Issue(1, 1, 1, "some-other-key"));
        using var response = await forged.PostAsync("/scheduler/jobs/new", new StringContent(EchoJob, Encoding.UTF8, "application/json"));
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    private static async Task AssertForbiddenAsync(HttpClient client, HttpMethod method, string path, string? json = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (json is not null)
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await client.SendAsync(request);
        var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        Assert.Contains(path.Split('?')[0], problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
    }
}
