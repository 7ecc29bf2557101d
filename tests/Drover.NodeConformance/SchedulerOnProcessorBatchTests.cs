using System.Net;
using System.Net.Http.Json;
using System.Text;
using Drover.Contracts;
using Drover.Processor;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Drover.NodeConformance;

/// <summary>
/// A real scheduler and a real Processor that registers with it: many jobs placed at once reach the Processor as
/// array calls of <c>POST /processor/jobs/new</c> (batch_start), and every one of them runs to the end.
/// </summary>
public sealed class SchedulerOnProcessorBatchTests : IAsyncLifetime, IDisposable
{
    private string _directory = "";
    private WebApplication _scheduler = null!;
    private WebApplication _processor = null!;
    private HttpClient _client = null!;
    private int _arrayStarts;
    private int _singleStarts;
    private int _postedPolls;

    public async Task InitializeAsync()
    {
        _directory = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-conformance", "batch-" + Guid.NewGuid().ToString("N"))).FullName;
        var nodeToken = Guid.NewGuid().ToString("N");
        _scheduler = SchedulerApp.Create(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Scheduler:Database={Path.Combine(_directory, "scheduler.db")}",
            $"--Scheduler:DataDirectory={Path.Combine(_directory, "uploads")}",
            $"--Scheduler:NodeToken={nodeToken}",
            "--Scheduler:PollInterval=00:00:00.200",
            "--Scheduler:ReconcileInterval=00:00:01",
            "--Scheduler:NodeCallTimeout=00:00:10",
            "--Serilog:MinimumLevel:Default=Warning",
        ]);
        await _scheduler.StartAsync();
        var schedulerUrl = _scheduler.Urls.First();

        _processor = ProcessorApp.Create(
        [
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", Path.Combine(_directory, "processor"),
            "--Processor:Name", "batching",
            "--Processor:Slots", "64",
            "--Processor:Token", nodeToken,
            "--Processor:SchedulerUrl", schedulerUrl,
            "--Processor:SchedulerToken", nodeToken,
            "--Serilog:MinimumLevel:Default=Warning",
        ]);
        // Counts how the scheduler calls the node: starts as arrays or alone, polls by POST.
        _processor.Use(async (context, next) =>
        {
            var request = context.Request;
            if (HttpMethods.IsPost(request.Method) && request.Path.Value is { } path)
            {
                if (path.EndsWith("/jobs/new", StringComparison.Ordinal))
                {
                    request.EnableBuffering();
                    var first = new byte[1];
                    var read = await request.Body.ReadAsync(first);
                    request.Body.Position = 0;
                    Interlocked.Increment(ref read == 1 && first[0] == (byte)'[' ? ref _arrayStarts : ref _singleStarts);
                }
                else if (path.EndsWith("/jobs/status", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _postedPolls);
                }
            }
            await next(context);
        });
        await _processor.StartAsync();
        _client = new HttpClient { BaseAddress = new Uri(schedulerUrl), Timeout = TimeSpan.FromSeconds(60) };
        await WaitForNodeAsync();
    }

    public void Dispose() => _client?.Dispose();

    public async Task DisposeAsync()
    {
        foreach (var app in new[] { _scheduler, _processor })
        {
            if (app is null)
                continue;
            await app.StopAsync();
            await app.DisposeAsync();
        }
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private async Task WaitForNodeAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!(await _client.GetStringAsync("/scheduler/nodes/available")).Contains("batching", StringComparison.Ordinal))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the Processor did not register with the scheduler");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Jobs_placed_together_reach_the_processor_in_array_calls_and_all_run_to_good()
    {
        // One DAG request without edges: its jobs are queued in one go, and the placement pass sends them together.
        const int count = 120;
        var jobs = Enumerable.Range(0, count).ToDictionary(i => $"j{i}", i => (object)new { commands = new[] { new { exec = new[] { "sh", "-c", $"echo job {i}" } } } });
        using var content = new StringContent(System.Text.Json.JsonSerializer.Serialize(new { jobs }, DroverJson.Options), Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync("/scheduler/dags/new", content);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        var answer = System.Text.Json.JsonSerializer.Deserialize<DagAnswer>(body, DroverJson.Options)!;

        var deadline = DateTime.UtcNow.AddSeconds(90);
        foreach (var (name, id) in answer.Jobs)
        {
            JobStatusView status;
            while ((status = (await _client.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!).State != JobState.Stopped)
            {
                Assert.True(DateTime.UtcNow < deadline, $"job {name} ({id}) is still {status.State} ({status.QueueReason})");
                await Task.Delay(50);
            }
            Assert.True(status.Status == JobStatus.Good, $"job {name}: {status.Status} {status.Reason}");
            Assert.Equal("batching", status.Node);
            Assert.Equal($"job {name[1..]}\n", await _client.GetStringAsync($"/scheduler/jobs/{id}/log"));
        }

        Assert.True(_arrayStarts > 0, $"no start came as an array ({_singleStarts} came alone)");
        Assert.True(_arrayStarts + _singleStarts < count, $"{_arrayStarts} array and {_singleStarts} single start calls for {count} jobs");
    }

    [Fact]
    public async Task The_scheduler_polls_a_node_that_offers_it_by_post()
    {
        using var content = new StringContent("""{"commands": [["sleep", "1"]]}""", Encoding.UTF8, "application/json");
        using var response = await _client.PostAsync("/scheduler/jobs/new", content);
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId;
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while ((await _client.GetFromJsonAsync<JobStatusView>($"/scheduler/jobs/{id}/status", DroverJson.Options))!.State != JobState.Stopped)
        {
            Assert.True(DateTime.UtcNow < deadline, $"job {id} did not stop");
            await Task.Delay(100);
        }
        Assert.True(_postedPolls > 0, "the scheduler never polled by POST /processor/jobs/status");
    }
}
