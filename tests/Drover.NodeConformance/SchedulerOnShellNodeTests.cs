using System.Net;
using System.Net.Http.Json;
using System.Text;
using Drover.Contracts;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.NodeConformance;

/// <summary>
/// A real scheduler with the shell node configured statically (its URL with the /cgi-bin/drover path, its token):
/// jobs go through the scheduler onto the node and back, like on any other node.
/// </summary>
public sealed class SchedulerOnShellNodeTests : IAsyncLifetime, IDisposable
{
    private readonly ShellNode _node = new();
    private string _directory = "";
    private WebApplication _scheduler = null!;
    private HttpClient _client = null!;

    public async Task InitializeAsync()
    {
        await _node.InitializeAsync();
        _directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-conformance", "scheduler-" + Guid.NewGuid().ToString("N"))).FullName;
        _scheduler = SchedulerApp.Create(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Scheduler:Database={Path.Combine(_directory, "scheduler.db")}",
            $"--Scheduler:DataDirectory={Path.Combine(_directory, "uploads")}",
            "--Scheduler:PollInterval=00:00:00.200",
            "--Scheduler:ReconcileInterval=00:00:01",
            "--Scheduler:NodeCallTimeout=00:00:10",
            "--Scheduler:Nodes:0:Name=shell",
            $"--Scheduler:Nodes:0:Uri={_node.BaseUri}",
            $"--Scheduler:Nodes:0:Token={_node.Token}",
            "--Serilog:MinimumLevel:Default=Warning",
        ]);
        await _scheduler.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(_scheduler.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
    }

    public void Dispose() => _client?.Dispose();

    public async Task DisposeAsync()
    {
        if (_scheduler is not null)
        {
            await _scheduler.StopAsync();
            await _scheduler.DisposeAsync();
        }
        await _node.DisposeAsync();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task<long> SubmitAsync(string json)
    {
        using var response = await _client.PostAsync("/scheduler/jobs/new", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
        return System.Text.Json.JsonSerializer.Deserialize<SubmitAnswer>(body, DroverJson.Options)!.JobId;
    }

    private async Task<JobStatusView> WaitForAsync(long id, Func<JobStatusView, bool> condition, int seconds = 45)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var status = (await _client.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!;
            if (condition(status))
                return status;
            if (DateTime.UtcNow > deadline)
            {
                using var node = NodeClient.Create(_node);
                var onNode = string.Join(", ", (await node.ListAsync()).Select(j => j.ToJsonString()));
                throw new TimeoutException($"job {id} is {status.State}/{status.Status}/{status.Reason} after {seconds} s (queue: {status.QueueReason}); the node has: {onNode}");
            }
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task A_job_runs_through_the_scheduler_on_the_shell_node_and_can_be_killed_there()
    {
        var id = await SubmitAsync("""
            {"commands": [{"exec": ["sh", "-c", "echo \"$GREETING from the shell node\""]}, {"shell": "echo second"}],
             "environment": {"GREETING": "hello"}}
            """);
        var done = await WaitForAsync(id, s => s.State == JobState.Stopped);
        Assert.Equal(JobStatus.Good, done.Status);
        Assert.Equal("shell", done.Node);
        Assert.Equal(0, done.ExitCode);
        Assert.Equal("hello from the shell node\nsecond\n", await _client.GetStringAsync($"/scheduler/jobs/{id}/log"));

        // The attempt is on the node's disk, in the seed's layout, under the request id the scheduler gave it.
        using var node = NodeClient.Create(_node);
        var attempt = (string)Assert.Single(await node.ListAsync())["request_id"]!;
        Assert.Equal("good", File.ReadAllText(Path.Combine(_node.StateDirectory!, "processor", "job", attempt, "status")).Trim());

        var sleeper = await SubmitAsync("""{"commands": [["sleep", "30"]], "max_attempts": 1}""");
        await WaitForAsync(sleeper, s => s.State == JobState.Running);
        using (var kill = await _client.PostAsync($"/scheduler/jobs/{sleeper}/kill", null))
            Assert.True(kill.IsSuccessStatusCode, $"{(int)kill.StatusCode}");
        var killed = await WaitForAsync(sleeper, s => s.State == JobState.Stopped);
        Assert.Equal(JobStatus.Error, killed.Status);
        Assert.Equal(StopReason.Killed, killed.Reason);
        var killedAttempt = (string)Assert.Single(await node.ListAsync(), j => (string)j["request_id"]! != attempt)["request_id"]!;
        Assert.Equal("killed", (string?)(await node.WaitStoppedAsync(killedAttempt))["reason"]);
    }
}
