using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Drover.Processor;
using Microsoft.AspNetCore.Builder;

namespace Drover.NodeConformance;

/// <summary>
/// A node the conformance suite checks. The suite speaks to it over HTTP only; <see cref="StateDirectory"/> is
/// known only for nodes the suite started itself, and lets a few tests also look at the disk.
/// </summary>
public abstract class NodeUnderTest : IAsyncLifetime
{
    /// <summary>The node's URL, ending in '/': every call is a path relative to it ("processor/jobs/new").</summary>
    public Uri? BaseUri { get; protected set; }

    public string? Token { get; protected set; }

    /// <summary>The node's state directory when it runs on this machine under the suite's control.</summary>
    public string? StateDirectory { get; protected set; }

    /// <summary>Whether the node runs on this machine, so its processes can be looked at in /proc.</summary>
    public bool IsLocal { get; protected set; }

    /// <summary>Why every test is skipped for this node (an external node that was not configured).</summary>
    public string? Unavailable { get; protected set; }

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();

    protected static Uri WithSlash(string uri) => new(uri.EndsWith('/') ? uri : uri + "/");

    protected static string NewStateDirectory(string kind) =>
        Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-conformance", kind + "-" + Guid.NewGuid().ToString("N"))).FullName;

    protected static void DeleteDirectory(string? path)
    {
        if (path is null)
            return;
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
            // A job still writing its log at the very end: the temporary folder is left for the OS to clean.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>Kills whatever still runs on the node, so no test leaves processes behind.</summary>
    protected async Task KillLeftoversAsync()
    {
        if (BaseUri is null)
            return;
        using var client = NodeClient.Create(this);
        await client.KillAllRunningAsync();
    }
}

/// <summary>The C# Processor, in this process, on a free 127.0.0.1 port with a token and a temporary state directory.</summary>
public sealed class ProcessorNode : NodeUnderTest
{
    private WebApplication? _app;

    public override async Task InitializeAsync()
    {
        StateDirectory = NewStateDirectory("processor");
        Token = Guid.NewGuid().ToString("N");
        IsLocal = true;
        _app = ProcessorApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Processor:StateDirectory", StateDirectory,
            "--Processor:Token", Token,
            "--Processor:KillGracePeriod", "00:00:02",
            "--Processor:Name", "conformance-processor",
            "--Logging:LogLevel:Default", "Warning",
            "--Serilog:MinimumLevel:Default", "Warning",
        ]);
        await _app.StartAsync();
        BaseUri = WithSlash(_app.Urls.First());
    }

    public override async Task DisposeAsync()
    {
        if (_app is not null)
        {
            await KillLeftoversAsync();
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
        DeleteDirectory(StateDirectory);
    }
}

/// <summary>
/// The shell node (nodes/shell) under busybox httpd, started with its own launcher on a free 127.0.0.1 port,
/// with a token and a temporary state directory.
/// </summary>
public class ShellNode : NodeUnderTest
{
    private Process? _httpd;

    /// <summary>Extra environment for the launcher (a test may lower the body limit).</summary>
    protected virtual IReadOnlyDictionary<string, string> LauncherEnvironment => new Dictionary<string, string>();

    /// <summary>Extra arguments for the launcher.</summary>
    protected virtual IReadOnlyList<string> LauncherArguments => [];

    /// <summary>Whether the node gets a token (by file, as the README says to give it).</summary>
    protected virtual bool WithToken => true;

    /// <summary>Where the token is kept for the launcher: beside the state directory, not in it.</summary>
    public string TokenFile => StateDirectory + ".token";

    public static string ScriptDirectory => Path.Combine(RepositoryRoot(), "nodes", "shell");

    public override async Task InitializeAsync()
    {
        StateDirectory = NewStateDirectory("shell");
        if (WithToken)
        {
            Token = Guid.NewGuid().ToString("N");
            await File.WriteAllTextAsync(TokenFile, Token + "\n");
        }
        IsLocal = true;
        await StartAsync();
    }

    /// <summary>Starts (or restarts) the launcher over the same state directory.</summary>
    public async Task StartAsync()
    {
        if (!File.Exists("/bin/busybox") && !File.Exists("/usr/bin/busybox"))
            throw new InvalidOperationException("the shell node needs busybox: apt-get install busybox");
        for (var attempt = 0; ; attempt++)
        {
            var port = FreePort();
            var start = new ProcessStartInfo(Path.Combine(ScriptDirectory, "drover-shell-node"))
            {
                ArgumentList = { "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--state", StateDirectory!, "--name", "conformance-shell" },
                RedirectStandardError = true,
                RedirectStandardOutput = true,
                UseShellExecute = false,
            };
            if (Token is not null)
            {
                start.ArgumentList.Add("--token-file");
                start.ArgumentList.Add(TokenFile);
            }
            foreach (var argument in LauncherArguments)
                start.ArgumentList.Add(argument);
            foreach (var (key, value) in LauncherEnvironment)
                start.Environment[key] = value;
            _httpd = Process.Start(start)!;
            _httpd.ErrorDataReceived += (_, _) => { };
            _httpd.OutputDataReceived += (_, _) => { };
            _httpd.BeginErrorReadLine();
            _httpd.BeginOutputReadLine();
            BaseUri = new Uri($"http://127.0.0.1:{port}/cgi-bin/drover/");
            if (await AnswersAsync())
                return;
            // Someone took the port between our probe and httpd's bind: try another.
            await StopAsync();
            if (attempt == 4)
                throw new InvalidOperationException("the shell node did not start: is busybox (with httpd) installed?");
        }
    }

    private async Task<bool> AnswersAsync()
    {
        using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (DateTime.UtcNow < deadline && !_httpd!.HasExited)
        {
            try
            {
                using var response = await client.GetAsync(new Uri(BaseUri!, "processor/info"));
                if (response.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.OK)
                    return true;
            }
            catch (HttpRequestException)
            {
            }
            await Task.Delay(50);
        }
        return false;
    }

    /// <summary>Stops busybox httpd; jobs are sessions of their own and carry on.</summary>
    public async Task StopAsync()
    {
        if (_httpd is null)
            return;
        if (!_httpd.HasExited)
        {
            _httpd.Kill();
            await _httpd.WaitForExitAsync();
        }
        _httpd.Dispose();
        _httpd = null;
    }

    public override async Task DisposeAsync()
    {
        if (_httpd is not null)
            await KillLeftoversAsync();
        await StopAsync();
        DeleteDirectory(StateDirectory);
        File.Delete(TokenFile);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Scheduler.sln")))
                return dir.FullName;
        }
        throw new InvalidOperationException("cannot find the repository root (Scheduler.sln) above " + AppContext.BaseDirectory);
    }
}

/// <summary>Any node at all: <c>DROVER_NODE_URL</c> (and <c>DROVER_NODE_TOKEN</c>) name it. Unset, its tests are skipped.</summary>
public sealed class ExternalNode : NodeUnderTest
{
    public override Task InitializeAsync()
    {
        var url = Environment.GetEnvironmentVariable("DROVER_NODE_URL");
        if (string.IsNullOrWhiteSpace(url))
        {
            Unavailable = "DROVER_NODE_URL is not set: set it (and DROVER_NODE_TOKEN) to check a node of your own";
            return Task.CompletedTask;
        }
        BaseUri = WithSlash(url.Trim());
        Token = Environment.GetEnvironmentVariable("DROVER_NODE_TOKEN") is { Length: > 0 } token ? token : null;
        // Even on 127.0.0.1 it may live in a container: its processes are checked through jobs it runs, not /proc.
        IsLocal = false;
        return Task.CompletedTask;
    }

    public override Task DisposeAsync() => KillLeftoversAsync();
}
