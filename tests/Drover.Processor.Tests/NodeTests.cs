using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Tests;

/// <summary>/processor/info, both URL spellings, the service token and start-up checks.</summary>
public sealed class NodeTests
{
    [Fact]
    public async Task Info_describes_the_node()
    {
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Name", "node-7", "--Processor:Slots", "3", "--Processor:Labels:gpu", "false");
        var info = await host.Client.GetFromJsonAsync<NodeInfo>("/processor/info", DroverJson.Options);

        Assert.Equal("node-7", info!.Name);
        Assert.Equal(host.Address.ToString().TrimEnd('/'), info.Uri);
        Assert.Equal(3, info.Slots);
        Assert.Equal(0, info.Running);
        Assert.Equal("false", info.Labels["gpu"]);
        Assert.False(string.IsNullOrEmpty(info.Hostname));
        Assert.NotEmpty(info.Ipv4);
        Assert.All(info.Ipv4, a => Assert.True(IPAddress.TryParse(a, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork));
        string[] features = ["batch_start", "batch_status", "log_follow", "multipart", "push", "slots"];
        Assert.Equal(features, info.Features.Order());
        Assert.Equal(TimeSpan.FromDays(7).TotalSeconds, info.JobRetentionSeconds);
    }

    [Fact]
    public async Task A_job_stopped_longer_ago_than_the_retention_is_forgotten()
    {
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:JobRetention", "00:00:02");
        Assert.Equal(2, (await host.Client.GetFromJsonAsync<NodeInfo>("/processor/info", DroverJson.Options))!.JobRetentionSeconds);
        var id = await host.SubmitAsync("""{"commands": [["echo", "hi"]]}""");
        await host.WaitStoppedAsync(id);
        Assert.True(Directory.Exists(Path.Combine(host.JobsRoot, id)));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        HttpStatusCode status;
        do
        {
            await Task.Delay(200);
            using var response = await host.Client.GetAsync($"/processor/jobs/{id}/status");
            status = response.StatusCode;
        }
        while (status != HttpStatusCode.NotFound && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.NotFound, status);
        // The job is forgotten in memory first, then its directory moved aside and deleted: the 404 can come a moment before.
        await ProcessorHost.WaitUntilAsync(() => !Directory.EnumerateDirectories(host.JobsRoot).Any(), "the job's directory to be deleted", 10);
    }

    [Fact]
    public async Task Both_spellings_of_every_path_are_answered()
    {
        await using var host = await ProcessorHost.StartAsync();
        var id = await host.SubmitAsync("""{"commands": [["echo", "hi"]]}""", spelling: "job");
        await host.WaitStoppedAsync(id);

        string[] spellings = ["job", "jobs"];
        foreach (var spelling in spellings)
        {
            Assert.Equal(JobStatus.Good, (await host.StatusAsync(id, spelling)).Status);
            Assert.Equal("hi\n", await host.Client.GetStringAsync($"/processor/{spelling}/{id}/log"));
            var list = await host.Client.GetFromJsonAsync<NodeJobList>($"/processor/{spelling}/status", DroverJson.Options);
            Assert.Equal(id, Assert.Single(list!.Jobs).RequestId);
            using var kill = await host.Client.PostAsync($"/processor/{spelling}/{id}/kill", null);
            Assert.Equal(HttpStatusCode.OK, kill.StatusCode);
            using var message = await host.PostJsonAsync($"/processor/{spelling}/{id}/status", """{"message": "m"}""");
            Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        }
        await host.SubmitAsync("""{"commands": [["true"]]}""", spelling: "jobs");
    }

    [Fact]
    public async Task With_a_token_every_call_needs_it()
    {
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Token", "s3cret");
        using var anonymous = new HttpClient { BaseAddress = host.Address };

        using (var none = await anonymous.PostAsync("/processor/jobs/new", new StringContent("""{"commands": [["true"]]}""", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
            Assert.Equal("application/problem+json", none.Content.Headers.ContentType?.MediaType);
            Assert.Equal("Bearer", none.Headers.WwwAuthenticate.Single().Scheme);
        }
        using (var wrong = new HttpRequestMessage(HttpMethod.Get, "/processor/info"))
        {
            wrong.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "guess");
            using var response = await anonymous.SendAsync(wrong);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        Assert.Empty(Directory.EnumerateDirectories(host.JobsRoot));

        var id = await host.SubmitAsync("""{"commands": [["true"]]}""");
        Assert.Equal(JobStatus.Good, (await host.WaitStoppedAsync(id)).Status);
        using var health = await anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task It_refuses_to_listen_beyond_loopback_without_a_token()
    {
        var state = ProcessorHost.NewStateDirectory();
        try
        {
            var error = Assert.Throws<InvalidOperationException>(() => ProcessorApp.Create(["--urls", "http://0.0.0.0:0", "--Processor:StateDirectory", state]));
            Assert.Contains("token", error.Message, StringComparison.Ordinal);

            // With a token it may (built, not started: tests listen on 127.0.0.1 only).
            await using var app = ProcessorApp.Create(["--urls", "http://0.0.0.0:0", "--Processor:StateDirectory", state, "--Processor:Token", "t"]);
            Assert.NotNull(app);
        }
        finally
        {
            ProcessorHost.DeleteDirectory(state);
        }
    }

    [Fact]
    public async Task Wrong_settings_stop_the_start_and_are_all_reported()
    {
        var state = ProcessorHost.NewStateDirectory();
        try
        {
            await using var app = ProcessorApp.Create(["--urls", "http://127.0.0.1:0", "--Processor:StateDirectory", state,
                "--Processor:Slots", "0", "--Processor:SchedulerUrl", "ftp://scheduler", "--Processor:Name", "a/b"]);
            var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());
            Assert.Contains(error.Failures, f => f.Contains("Slots", StringComparison.Ordinal));
            Assert.Contains(error.Failures, f => f.Contains("SchedulerUrl", StringComparison.Ordinal));
            Assert.Contains(error.Failures, f => f.Contains("Name", StringComparison.Ordinal));
        }
        finally
        {
            ProcessorHost.DeleteDirectory(state);
        }
    }
}
