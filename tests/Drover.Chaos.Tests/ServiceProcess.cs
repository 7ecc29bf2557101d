using System.Diagnostics;
using System.Net;

namespace Drover.Chaos.Tests;

/// <summary>
/// One service of the system as a process of its own (a built service DLL under <c>dotnet</c>, or the shell node's
/// launcher), on a fixed loopback port so that a restart comes back where the others expect it.
/// </summary>
public sealed class ServiceProcess(string name, string program, IReadOnlyList<string> arguments, Uri health, string? healthToken = null)
    : IAsyncDisposable
{
    private static readonly HttpClient Probe = new() { Timeout = TimeSpan.FromSeconds(2) };
    private readonly Queue<string> _tail = new();
    private Process? _process;

    public string Name { get; } = name;

    public int? Pid => _process?.Id;

    /// <summary>The last lines the service wrote, for the message of a failing check.</summary>
    public string Tail
    {
        get
        {
            lock (_tail)
                return string.Join('\n', _tail);
        }
    }

    /// <summary>A service DLL copied next to these tests by its project reference.</summary>
    public static ServiceProcess Dotnet(string name, string assembly, IReadOnlyList<string> arguments, Uri health) =>
        new(name, "dotnet", [Path.Combine(AppContext.BaseDirectory, assembly + ".dll"), .. arguments], health);

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new InvalidOperationException($"{Name} did not start");
        process.OutputDataReceived += (_, e) => Keep(e.Data);
        process.ErrorDataReceived += (_, e) => Keep(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (!await HealthyAsync())
        {
            if (process.HasExited)
                throw new InvalidOperationException($"{Name} exited with {process.ExitCode}:\n{Tail}");
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"{Name} did not answer {health} within 90 s:\n{Tail}");
            await Task.Delay(100);
        }
    }

    /// <summary>Runs the service expecting it to end by itself (a start it refuses): its exit code and all it wrote.</summary>
    public async Task<(int ExitCode, string Output)> RunToExitAsync(TimeSpan timeout)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{Name} did not start");
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        using var deadline = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Name} was still running after {timeout}:\n{await output}{await errors}");
        }
        return (process.ExitCode, await output + await errors);
    }

    private void Keep(string? line)
    {
        if (line is null)
            return;
        lock (_tail)
        {
            _tail.Enqueue(line);
            while (_tail.Count > 40)
                _tail.Dequeue();
        }
    }

    private async Task<bool> HealthyAsync()
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, health);
            if (healthToken is not null)
                request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", healthToken);
            using var response = await Probe.SendAsync(request);
            return response.StatusCode == HttpStatusCode.OK;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL: the process gets no chance to tidy up (its job processes, in sessions of their own, live on).</summary>
    public async Task KillAsync()
    {
        if (_process is not { } process)
            return;
        _process = null;
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: false);
            await process.WaitForExitAsync();
        }
        process.Dispose();
    }

    public async Task RestartAsync()
    {
        await KillAsync();
        await StartAsync();
    }

    /// <summary>SIGSTOP: the process stops answering, while its sockets still accept connections.</summary>
    public Task PauseAsync() => SignalAsync("-STOP");

    public Task ResumeAsync() => SignalAsync("-CONT");

    private async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", [signal, Pid?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? throw new InvalidOperationException($"{Name} is not running")])!;
        await kill.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process && !process.HasExited)
            await SignalAsync("-CONT"); // a stopped process ignores nothing but SIGKILL; resume it so that it dies cleanly
        await KillAsync();
    }
}
