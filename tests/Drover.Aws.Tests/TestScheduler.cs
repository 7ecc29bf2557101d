using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Aws.Tests.Fake;
using Drover.Scheduler;
using Microsoft.AspNetCore.Builder;

namespace Drover.Aws.Tests;

/// <summary>
/// A real scheduler (Kestrel on 127.0.0.1, SQLite in a temp folder) with one ECS node, <c>ecs-test</c>, on the test
/// server; more settings (EC2 discovery, other timings) come as extra arguments, which win over these.
/// </summary>
internal sealed class TestScheduler : IAsyncDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("drover-ecs-scheduler-").FullName;
    private readonly FakeAws _fake;
    private readonly string[] _extra;
    private WebApplication? _app;

    public TestScheduler(FakeAws fake, params string[] extra)
    {
        _fake = fake;
        _extra = extra;
    }

    public HttpClient Client { get; private set; } = null!;

    /// <summary>The scheduler's SQLite file, for a test that plays a crash by changing what it holds.</summary>
    public string Database => Path.Combine(_directory, "scheduler.db");

    public IServiceProvider Services => _app!.Services;

    public async Task StartAsync()
    {
        _app = SchedulerApp.Create(
        [
            "--urls", "http://127.0.0.1:0",
            $"--Scheduler:Database={Database}",
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
        try
        {
            await _app.StartAsync();
        }
        catch
        {
            await _app.DisposeAsync();
            _app = null;
            throw;
        }
        Client = new HttpClient { BaseAddress = new Uri(_app.Urls.First()), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async Task StopAsync()
    {
        Client?.Dispose();
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
