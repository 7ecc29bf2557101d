using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;

namespace Drover.Gateway.Tests;

/// <summary>
/// The repository's own <c>Dockerfile</c> and <c>docker-compose.yml</c>, run with docker-compose against a real Docker
/// engine. No registry is reachable, so the base images are a stand-in built here once and kept: a Debian root from
/// <c>debootstrap --variant=minbase</c> with this machine's .NET runtime copied in, imported with <c>docker import</c>.
/// The services are the ones these tests were built from, published without building again.
/// </summary>
public sealed class ComposeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);
    private static readonly string[] BasePackages = ["libssl3"];

    [SkippableFact]
    public async Task Compose_runs_the_seed_script_survives_a_killed_processor_and_scales_to_three_nodes()
    {
        Skip.IfNot(Environment.UserName == "root" || geteuid() == 0, "the compose test builds a Debian root with debootstrap, which needs root");
        Skip.If(await TryRunAsync("docker", "info") is not 0, "no Docker engine answers (scripts/test starts dockerd when it is installed)");
        Skip.If(await TryRunAsync("docker-compose", "version") is not 0, "docker-compose is not installed (scripts/test installs it)");

        var repository = RepositoryRoot();
        var work = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-compose", Guid.NewGuid().ToString("N"))).FullName;
        var project = "drovertest" + Guid.NewGuid().ToString("N")[..10];
        var port = Trio.ClosedPort();
        var adminKey = Secret();
        var environment = new Dictionary<string, string>
        {
            ["DROVER_SCHEDULER_TOKEN"] = Secret(),
            ["DROVER_NODE_TOKEN"] = Secret(),
            ["DROVER_JOB_TOKEN_KEY"] = Secret(),
            ["DROVER_ADMIN_KEY"] = adminKey,
            ["DROVER_PORT"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["DROVER_TAG"] = "compose-test",
            ["DROVER_PUBLISHED"] = "published",
            // The legacy builder through docker-compose itself: it needs no buildx plugin.
            ["COMPOSE_DOCKER_CLI_BUILD"] = "0",
            ["DOCKER_BUILDKIT"] = "0",
        };
        string[] compose = ["-p", project, "-f", Path.Combine(work, "docker-compose.yml")];
        try
        {
            var image = await BaseImageAsync(work);
            environment["DROVER_SDK_IMAGE"] = image;
            environment["DROVER_RUNTIME_IMAGE"] = image;

            // The build context: the files users build with, and the services already published.
            foreach (var file in (string[])["Dockerfile", "docker-compose.yml", ".dockerignore"])
                File.Copy(Path.Combine(repository, file), Path.Combine(work, file));
            foreach (var service in (string[])["Gateway", "Scheduler", "Processor"])
                await RunAsync("dotnet", ["publish", Path.Combine(repository, "src", $"Drover.{service}"), "--no-build", "-c", Configuration,
                    "-o", Path.Combine(work, "published", service), "-nologo", "-v", "q"]);

            await RunAsync("docker-compose", [.. compose, "up", "-d", "--build"], environment);
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminKey);
            await WaitForNodesAsync(client, 1);

            var first = await SeedScriptAsync(client);

            // SIGKILL the Processor mid-job and start it again: the job still ends good, and nothing it held is lost.
            var running = await SubmitJsonAsync(client, """{"commands": [{"shell": "echo begin; sleep 4; echo end"}]}""");
            await WaitForAsync(client, running, s => s.GetProperty("state").GetString() == "running");
            var container = (await RunAsync("docker-compose", [.. compose, "ps", "-q", "processor"], environment)).Trim();
            await RunAsync("docker", ["kill", "--signal", "KILL", container]);
            await RunAsync("docker", ["start", container]);
            var ended = await WaitForAsync(client, running, s => s.GetProperty("state").GetString() == "stopped");
            Assert.Equal("good", ended.GetProperty("status").GetString());
            using (var record = JsonDocument.Parse(await client.GetStringAsync($"/scheduler/jobs/{running}")))
                Assert.True(record.RootElement.GetProperty("attempts").GetArrayLength() >= 2, $"the kill did not hit the job: {record.RootElement}");
            Assert.EndsWith("end\n", await client.GetStringAsync($"/scheduler/jobs/{running}/log"), StringComparison.Ordinal);
            Assert.Equal("hello from drover\n", await client.GetStringAsync($"/scheduler/jobs/{first}/log"));

            await RunAsync("docker-compose", [.. compose, "up", "-d", "--no-recreate", "--scale", "processor=3"], environment);
            await WaitForNodesAsync(client, 3);
        }
        finally
        {
            if (File.Exists(Path.Combine(work, "docker-compose.yml")))
            {
                await TryRunAsync("docker-compose", [.. compose, "down", "-v", "--remove-orphans", "-t", "5"], environment);
                // Build stages and images that a newer build untagged; the tagged images stay, as the next build's cache.
                await TryRunAsync("docker", "image", "prune", "-f", "--filter", "label=drover.image");
            }
            Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>The seed's sample operation script, through the published gateway port; returns the echo job's id.</summary>
    private static async Task<long> SeedScriptAsync(HttpClient client)
    {
        using var form = new FormUrlEncodedContent([new("command", "echo \"hello from drover\"")]);
        using var posted = await client.PostAsync("/scheduler/jobs/new", form);
        var body = await posted.Content.ReadAsStringAsync();
        Assert.True(posted.StatusCode == HttpStatusCode.Accepted, body);
        var first = JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
        var second = await SubmitJsonAsync(client, """{"commands": [{"command": ["uname", "-a"]}], "environment": {}}""");

        using var listRequest = new HttpRequestMessage(HttpMethod.Get, "/scheduler/jobs");
        listRequest.Headers.Accept.ParseAdd("text/plain");
        using var list = await client.SendAsync(listRequest);
        Assert.Equal($"{first}\n{second}\n", await list.Content.ReadAsStringAsync());

        foreach (var id in (long[])[first, second])
        {
            var status = await WaitForAsync(client, id, s => s.GetProperty("state").GetString() == "stopped");
            Assert.Equal("good", status.GetProperty("status").GetString());
            Assert.True(status.TryGetProperty("created_at", out _));
        }
        using (var update = await client.PostAsync($"/scheduler/jobs/{first}/update", null))
            Assert.Equal(HttpStatusCode.OK, update.StatusCode);
        Assert.Equal("hello from drover\n", await client.GetStringAsync($"/scheduler/jobs/{first}/log"));
        Assert.Contains("Linux", await client.GetStringAsync($"/scheduler/jobs/{second}/log"), StringComparison.Ordinal);

        using (var available = JsonDocument.Parse(await client.GetStringAsync("/scheduler/nodes/available")))
        {
            var node = Assert.Single(available.RootElement.GetProperty("nodes").EnumerateArray());
            Assert.StartsWith("http://", node.GetProperty("uri").GetString(), StringComparison.Ordinal);
            Assert.NotEqual(0, node.GetProperty("ipv4").GetArrayLength());
        }

        // The seed's calls to a Processor, through the gateway.
        var requestId = "seed" + Guid.NewGuid().ToString("N")[..8];
        using (var started = await client.PostAsync("/processor/jobs/new", new StringContent(
            $$"""{"commands": [{"exec": ["uname", "-a"]}], "environment": {}, "request_id": "{{requestId}}"}""", Encoding.UTF8, "application/json")))
            Assert.Equal(HttpStatusCode.Created, started.StatusCode);
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var node = JsonDocument.Parse(await client.GetStringAsync($"/processor/job/{requestId}/status"));
            if (node.RootElement.GetProperty("state").GetString() == "stopped")
            {
                Assert.Equal("good", node.RootElement.GetProperty("status").GetString());
                break;
            }
            Assert.True(DateTime.UtcNow < deadline, $"the Processor's job {requestId} did not stop: {node.RootElement}");
            await Task.Delay(200);
        }
        return first;
    }

    private static async Task<long> SubmitJsonAsync(HttpClient client, string json)
    {
        using var response = await client.PostAsync("/scheduler/jobs/new", new StringContent(json, Encoding.UTF8, "application/json"));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        return JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
    }

    private static async Task<JsonElement> WaitForAsync(HttpClient client, long id, Func<JsonElement, bool> done)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            using var document = JsonDocument.Parse(await client.GetStringAsync($"/scheduler/jobs/{id}/status"));
            if (done(document.RootElement))
                return document.RootElement.Clone();
            Assert.True(DateTime.UtcNow < deadline, $"job {id}: {document.RootElement}");
            await Task.Delay(200);
        }
    }

    private static async Task WaitForNodesAsync(HttpClient client, int count)
    {
        var deadline = DateTime.UtcNow + Patience;
        var last = "";
        while (true)
        {
            try
            {
                using var response = await client.GetAsync("/scheduler/nodes/available");
                last = await response.Content.ReadAsStringAsync();
                if (response.IsSuccessStatusCode
                    && JsonDocument.Parse(last).RootElement.GetProperty("nodes").GetArrayLength() == count)
                    return;
            }
            catch (HttpRequestException e)
            {
                last = e.Message; // the gateway is not up yet
            }
            Assert.True(DateTime.UtcNow < deadline, $"not {count} nodes available after {Patience}: {last}");
            await Task.Delay(500);
        }
    }

    /// <summary>
    /// The stand-in for both base images, built once per .NET runtime version and kept: a minimal Debian root with the
    /// runtime these tests run on (the host's shared .NET and ASP.NET Core frameworks) under /usr/share/dotnet.
    /// </summary>
    private static async Task<string> BaseImageAsync(string work)
    {
        var netcore = RuntimeEnvironment.GetRuntimeDirectory().TrimEnd('/');
        var aspnet = Path.GetDirectoryName(typeof(WebApplication).Assembly.Location)!;
        var dotnetRoot = Path.GetFullPath(Path.Combine(netcore, "..", "..", ".."));
        // The tag names what the image is made of, so that a change to the recipe or a new runtime makes a new one.
        var image = $"drover-test-base:bookworm-{string.Join('-', BasePackages)}-dotnet-{Path.GetFileName(netcore)}-aspnet-{Path.GetFileName(aspnet)}";
        if (await TryRunAsync("docker", "image", "inspect", image) is 0)
            return image;

        var root = Path.Combine(work, "rootfs");
        var mirror = Environment.GetEnvironmentVariable("DROVER_DEBIAN_MIRROR") ?? "http://deb.debian.org/debian";
        // libssl3: .NET's cryptography is OpenSSL's (the token checks hash with it); Microsoft's images carry it too.
        await RunAsync("debootstrap", ["--variant=minbase", $"--include={string.Join(',', BasePackages)}", "bookworm", root, mirror]);
        var target = Path.Combine(root, "usr", "share", "dotnet");
        foreach (var part in (string[])["dotnet", "host", Path.Combine("shared", "Microsoft.NETCore.App", Path.GetFileName(netcore)),
                     Path.Combine("shared", "Microsoft.AspNetCore.App", Path.GetFileName(aspnet))])
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.Combine(target, part))!);
            await RunAsync("cp", ["-a", Path.Combine(dotnetRoot, part), Path.Combine(target, part)]);
        }
        File.CreateSymbolicLink(Path.Combine(root, "usr", "bin", "dotnet"), "/usr/share/dotnet/dotnet");
        // apt's lists and caches are of no use in an image.
        await RunAsync("sh", ["-c", $"rm -rf '{root}/var/lib/apt/lists/'* '{root}/var/cache/apt/'*"]);
        await RunAsync("sh", ["-c", $"tar -C '{root}' -c . | docker import - '{image}'"]);
        await RunAsync("rm", ["-rf", root]);
        return image;
    }

    private static string Configuration =>
        Path.GetFileName(Path.GetDirectoryName(AppContext.BaseDirectory.TrimEnd('/'))!) is { Length: > 0 } c ? c : "Debug";

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Scheduler.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Scheduler.sln not found above " + AppContext.BaseDirectory);
    }

    private static string Secret() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));

    private static async Task<int> TryRunAsync(string program, params string[] arguments) =>
        (await ExecuteAsync(program, arguments, null)).ExitCode;

    private static async Task<int> TryRunAsync(string program, string[] arguments, Dictionary<string, string> environment) =>
        (await ExecuteAsync(program, arguments, environment)).ExitCode;

    private static async Task<string> RunAsync(string program, string[] arguments, Dictionary<string, string>? environment = null)
    {
        var (code, output) = await ExecuteAsync(program, arguments, environment);
        Assert.True(code == 0, $"{program} {string.Join(' ', arguments)} exited with {code}:\n{output}");
        return output;
    }

    private static async Task<(int ExitCode, string Output)> ExecuteAsync(string program, string[] arguments, Dictionary<string, string>? environment)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
            start.ArgumentList.Add(argument);
        foreach (var (key, value) in environment ?? [])
            start.Environment[key] = value;
        Process process;
        try
        {
            process = Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (127, e.Message); // not installed
        }
        using (process)
        {
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, await output + await error);
        }
    }

    [DllImport("libc")]
    private static extern uint geteuid();
}
