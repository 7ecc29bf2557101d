using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Microsoft.AspNetCore.Builder;

namespace Drover.Processor.Tests;

/// <summary>A real Processor on a free 127.0.0.1 port over a temporary state directory (deleted afterwards unless shared).</summary>
internal sealed class ProcessorHost : IAsyncDisposable
{
    private readonly bool _ownsState;
    private bool _stopped;

    private ProcessorHost(WebApplication app, string stateDirectory, bool ownsState, string? token)
    {
        App = app;
        StateDirectory = stateDirectory;
        _ownsState = ownsState;
        Address = new Uri(app.Urls.First());
        Client = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
            Client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
    }

    public WebApplication App { get; }
    public HttpClient Client { get; }
    public Uri Address { get; }
    public string StateDirectory { get; }
    public string JobsRoot => Path.Combine(StateDirectory, "processor", "job");

    public static string NewStateDirectory() =>
        Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-processor-tests", Guid.NewGuid().ToString("N"))).FullName;

    /// <summary>Starts a Processor; <paramref name="stateDirectory"/> given means the caller owns (and deletes) it.</summary>
    public static async Task<ProcessorHost> StartAsync(string? stateDirectory = null, params string[] settings)
    {
        var state = stateDirectory ?? NewStateDirectory();
        string[] args = ["--urls", "http://127.0.0.1:0", "--Processor:StateDirectory", state, "--Processor:KillGracePeriod", "00:00:02", .. settings];
        var app = ProcessorApp.Create(args);
        await app.StartAsync();
        var token = settings.SkipWhile(s => s != "--Processor:Token").Skip(1).FirstOrDefault();
        return new ProcessorHost(app, state, stateDirectory is null, token);
    }

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json) =>
        Client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    /// <summary>Posts a job and expects it to be accepted; returns its request id.</summary>
    public async Task<string> SubmitAsync(string json, string spelling = "jobs")
    {
        using var response = await PostJsonAsync($"/processor/{spelling}/new", json);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await ReadStatusAsync(response)).RequestId;
    }

    public static async Task<NodeJobStatus> ReadStatusAsync(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<NodeJobStatus>(DroverJson.Options))!;

    public async Task<NodeJobStatus> StatusAsync(string id, string spelling = "jobs")
    {
        using var response = await Client.GetAsync($"/processor/{spelling}/{id}/status");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await ReadStatusAsync(response);
    }

    /// <summary>Waits (generously: the machine may be loaded) until the job's status satisfies the condition.</summary>
    public async Task<NodeJobStatus> WaitForAsync(string id, Func<NodeJobStatus, bool> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var status = await StatusAsync(id);
            if (condition(status))
                return status;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"job {id} is still {status.State}/{status.Status} after {seconds} s");
            await Task.Delay(50);
        }
    }

    public Task<NodeJobStatus> WaitStoppedAsync(string id, int seconds = 30) => WaitForAsync(id, s => s.State == JobState.Stopped, seconds);

    public Task<string> LogAsync(string id, string query = "") => Client.GetStringAsync($"/processor/jobs/{id}/log{query}");

    public string WorkDirectory(string id) => Path.Combine(JobsRoot, id, "work");

    /// <summary>Stops the host; its jobs keep running (a Processor lets go of them, the next one re-attaches).</summary>
    public async Task StopAsync()
    {
        if (_stopped)
            return;
        _stopped = true;
        await App.StopAsync();
        await App.DisposeAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stopped)
        {
            // Leave no process behind: kill what still runs before letting go.
            using var list = await Client.GetAsync("/processor/jobs/status");
            if (list.IsSuccessStatusCode)
            {
                var jobs = (await list.Content.ReadFromJsonAsync<NodeJobList>(DroverJson.Options))!.Jobs;
                await Task.WhenAll(jobs.Where(j => j.State != JobState.Stopped)
                    .Select(j => Client.PostAsync($"/processor/jobs/{j.RequestId}/kill", null)));
            }
            await StopAsync();
        }
        Client.Dispose();
        if (_ownsState)
            DeleteDirectory(StateDirectory);
    }

    public static void DeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>Asserts a problem+json answer with the status code that names <paramref name="field"/> among its errors.</summary>
    public static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode status, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {status}, got {response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(body);
        Assert.Equal((int)status, problem.RootElement.GetProperty("status").GetInt32());
        Assert.True(problem.RootElement.TryGetProperty("errors", out var errors), body);
        var fields = errors.EnumerateObject().Select(p => p.Name).ToList();
        Assert.True(fields.Any(f => f == field || f.StartsWith(field + ".", StringComparison.Ordinal) || f.StartsWith(field + "[", StringComparison.Ordinal)),
            $"expected an error for '{field}', got {string.Join(", ", fields)}");
    }

    /// <summary>No job directory and not one file anywhere under the state directory but the supervisor's (socket, lock, log).</summary>
    public void AssertNothingWritten()
    {
        Assert.Empty(Directory.EnumerateDirectories(JobsRoot));
        var supervisor = Path.Combine(StateDirectory, "processor", "supervisor.");
        var written = Directory.EnumerateFiles(StateDirectory, "*", SearchOption.AllDirectories).Where(f => !f.StartsWith(supervisor, StringComparison.Ordinal));
        Assert.Equal([], written);
    }

    /// <summary>Whether a process still lives (a zombie counts as gone).</summary>
    public static bool ProcessAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            return stat[(stat.LastIndexOf(')') + 2)] is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>The pid of the supervisor serving a state directory (<c>... supervise SOCKET</c>), or null when none runs.</summary>
    public static int? SupervisorPid(string stateDirectory)
    {
        var socket = Path.Combine(stateDirectory, "processor", "supervisor.sock");
        foreach (var entry in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(entry), out var pid))
                continue;
            string[] argv;
            try
            {
                argv = File.ReadAllText(Path.Combine(entry, "cmdline")).Split('\0');
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                continue;
            }
            if (argv.Contains(socket) && argv.Contains("supervise") && ProcessAlive(pid))
                return pid;
        }
        return null;
    }

    /// <summary>Field <paramref name="index"/> of /proc/PID/stat, counted from the state (0) after the command name.</summary>
    public static int StatField(int pid, int index)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        return int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[index], System.Globalization.CultureInfo.InvariantCulture);
    }

    public static int ParentPid(int pid) => StatField(pid, 1);

    /// <summary>The pid of the job's running command, once the Processor has recorded it.</summary>
    public async Task<int> CommandPidAsync(string id)
    {
        var record = Path.Combine(JobsRoot, id, "process");
        await WaitUntilAsync(() => File.Exists(record), $"job {id}'s command to start");
        using var process = JsonDocument.Parse(await File.ReadAllTextAsync(record));
        return process.RootElement.GetProperty("pid").GetInt32();
    }

    public static async Task WaitUntilAsync(Func<bool> condition, string what, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(50);
        }
    }
}

/// <summary>One Processor shared by the tests of a class, for tests whose jobs cannot disturb each other.</summary>
public class ProcessorFixture : IAsyncLifetime
{
    private readonly string[] _settings;
    private ProcessorHost? _host;

    public ProcessorFixture()
        : this(["--Processor:Slots", "16"])
    {
    }

    protected ProcessorFixture(string[] settings) => _settings = settings;

    internal ProcessorHost Host => _host ?? throw new InvalidOperationException("not started");

    public async Task InitializeAsync() => _host = await ProcessorHost.StartAsync(null, _settings);

    public async Task DisposeAsync()
    {
        if (_host is not null)
            await _host.DisposeAsync();
    }
}
