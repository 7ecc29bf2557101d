using System.Net.Http.Json;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Drover.Contracts;

namespace Drover.Processor.Tests;

public sealed class JobRunTests(ProcessorFixture fixture) : IClassFixture<ProcessorFixture>
{
    private readonly ProcessorHost _host = fixture.Host;

    [Fact]
    public async Task Stdout_and_stderr_reach_the_log_in_the_order_produced()
    {
        var id = await _host.SubmitAsync("""
            {"commands": [["sh", "-c", "echo one; echo two >&2; echo three; echo four >&2"], ["echo", "five"]], "request_id": "order"}
            """);
        var status = await _host.WaitStoppedAsync(id);

        Assert.Equal(JobStatus.Good, status.Status);
        Assert.Equal(0, status.ExitCode);
        Assert.Equal("one\ntwo\nthree\nfour\nfive\n", await _host.LogAsync(id));
        Assert.Equal("0\n", await File.ReadAllTextAsync(Path.Combine(_host.JobsRoot, id, "exit_code")));
    }

    [Fact]
    public async Task Commands_get_the_job_environment_added_to_the_nodes_own()
    {
        var id = await _host.SubmitAsync("""
            {"commands": [["printenv", "GREETING"], ["printenv", "PATH"]], "environment": {"GREETING": "hello world"}}
            """);
        await _host.WaitStoppedAsync(id);

        var lines = (await _host.LogAsync(id)).Split('\n');
        Assert.Equal("hello world", lines[0]);
        Assert.False(string.IsNullOrEmpty(lines[1])); // the node's own PATH is still there
    }

    [Fact]
    public async Task Commands_run_in_the_jobs_own_working_directory_with_the_uploaded_files()
    {
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"commands": [["pwd"], ["cat", "data.txt"], ["sh", "-c", "wc -c < blob.bin"]], "request_id": "upload"}""", Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("uploaded content\n"u8.ToArray()), "file", "data.txt" },
            { new ByteArrayContent(new byte[100_000]), "blob", "blob.bin" },
        };
        using var response = await _host.Client.PostAsync("/processor/jobs/new", form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var status = await _host.WaitStoppedAsync("upload");

        Assert.Equal(JobStatus.Good, status.Status);
        var lines = (await _host.LogAsync("upload")).Split('\n');
        Assert.Equal(_host.WorkDirectory("upload"), lines[0]);
        Assert.Equal("uploaded content", lines[1]);
        Assert.Equal("100000", lines[2].Trim());
    }

    [Fact]
    public async Task The_first_failing_command_ends_the_job_with_its_exit_code()
    {
        var id = await _host.SubmitAsync("""
            {"commands": [["echo", "first"], ["sh", "-c", "echo second; exit 3"], ["echo", "never"]]}
            """);
        var status = await _host.WaitStoppedAsync(id);

        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(StopReason.ExitCode, status.Reason);
        Assert.Equal(3, status.ExitCode);
        Assert.NotNull(status.StartedAt);
        Assert.NotNull(status.FinishedAt);
        Assert.Equal("first\nsecond\n", await _host.LogAsync(id));
    }

    [Fact]
    public async Task A_missing_program_fails_the_job_and_says_so_in_the_log()
    {
        var id = await _host.SubmitAsync("""{"commands": [["/no/such/program"]]}""");
        var status = await _host.WaitStoppedAsync(id);

        Assert.Equal(JobStatus.Error, status.Status);
        Assert.Equal(127, status.ExitCode);
        Assert.Contains("/no/such/program", await _host.LogAsync(id), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_argv_is_never_interpreted_by_a_shell_but_a_shell_command_is()
    {
        var id = await _host.SubmitAsync("""
            {"commands": [{"exec": ["echo", "$HOME;", "`id`", "*", "a|b"]}, {"command": ["echo", "seed spelling"]}, {"shell": "echo $((40 + 2))"}]}
            """);
        await _host.WaitStoppedAsync(id);

        Assert.Equal("$HOME; `id` * a|b\nseed spelling\n42\n", await _host.LogAsync(id));
    }

    [Fact]
    public async Task A_running_job_records_progress_messages_as_json_or_text()
    {
        var id = await _host.SubmitAsync("""{"commands": [["sleep", "30"]]}""");

        using (var json = await _host.PostJsonAsync($"/processor/jobs/{id}/status", """{"message": "step 2 of 5"}"""))
            Assert.Equal("step 2 of 5", (await ProcessorHost.ReadStatusAsync(json)).Message);
        Assert.Equal("step 2 of 5", (await _host.StatusAsync(id)).Message);

        using var text = new StringContent("step 3 of 5\n", Encoding.UTF8, new MediaTypeHeaderValue("text/plain"));
        using (var plain = await _host.Client.PostAsync($"/processor/job/{id}/status", text))
            Assert.Equal(HttpStatusCode.OK, plain.StatusCode);
        var status = await _host.StatusAsync(id);
        Assert.Equal("step 3 of 5", status.Message);
        Assert.Equal(JobState.Running, status.State);
    }

    [Fact]
    public async Task A_progress_message_too_long_or_of_no_string_is_refused_and_changes_nothing()
    {
        var id = await _host.SubmitAsync("""{"commands": [["true"]]}""");
        await _host.WaitStoppedAsync(id);

        using (var tooLong = await _host.PostJsonAsync($"/processor/jobs/{id}/status", $$"""{"message": "{{new string('m', 5000)}}"}"""))
            await ProcessorHost.AssertProblemAsync(tooLong, HttpStatusCode.BadRequest, "message");
        using (var huge = await _host.Client.PostAsync($"/processor/jobs/{id}/status", new StringContent(new string('m', 100_000), Encoding.UTF8, "text/plain")))
            await ProcessorHost.AssertProblemAsync(huge, HttpStatusCode.RequestEntityTooLarge, "body");
        using (var number = await _host.PostJsonAsync($"/processor/jobs/{id}/status", """{"message": 5}"""))
            await ProcessorHost.AssertProblemAsync(number, HttpStatusCode.BadRequest, "message");
        using (var none = await _host.PostJsonAsync($"/processor/jobs/{id}/status", "{}"))
            await ProcessorHost.AssertProblemAsync(none, HttpStatusCode.BadRequest, "message");
        Assert.Null((await _host.StatusAsync(id)).Message);
    }

    [Fact]
    public async Task Every_job_is_listed_and_a_batched_poll_returns_only_those_asked_for()
    {
        var a = await _host.SubmitAsync("""{"commands": [["true"]], "request_id": "list-a"}""");
        var b = await _host.SubmitAsync("""{"commands": [["true"]], "request_id": "list-b"}""");

        var all = await _host.Client.GetFromJsonAsync<NodeJobList>("/processor/jobs/status", DroverJson.Options);
        Assert.Contains(all!.Jobs, j => j.RequestId == a);
        Assert.Contains(all.Jobs, j => j.RequestId == b);

        var some = await _host.Client.GetFromJsonAsync<NodeJobList>("/processor/jobs/status?request_id=list-b&request_id=unknown", DroverJson.Options);
        Assert.Equal("list-b", Assert.Single(some!.Jobs).RequestId);
    }
}
