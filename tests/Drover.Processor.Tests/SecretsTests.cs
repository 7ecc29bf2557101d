using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;

namespace Drover.Processor.Tests;

/// <summary>Secrets stay with the Processor: jobs do not inherit its configuration, tokens come by file, files are private.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed class SecretsTests
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    [Fact]
    public async Task A_job_sees_neither_the_token_nor_the_configuration_the_Processor_was_started_with()
    {
        // As docker-compose starts it: the token and other settings in the environment of a real Processor process.
        var state = ProcessorHost.NewStateDirectory();
        var token = "env-token-" + Guid.NewGuid().ToString("N");
        var port = FreePort();
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, "Drover.Processor"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        start.Environment["Processor__Token"] = token;
        start.Environment["Processor__SchedulerToken"] = "scheduler-" + token;
        start.Environment["Processor__StateDirectory"] = state;
        start.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{port}";
        start.Environment["DROVER_NODE_TOKEN"] = "node-" + token;
        start.Environment["LANG"] = "C.UTF-8";
        using var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            await WaitUntilUpAsync(client, process);

            var job = """{"commands": [{"exec": ["env"]}], "environment": {"MINE": "the job's own", "DROVER_URL": "http://127.0.0.1:1"}, "request_id": "env-1"}""";
            using var created = await client.PostAsync("/processor/jobs/new", new StringContent(job, Encoding.UTF8, "application/json"));
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while ((await client.GetStringAsync("/processor/jobs/env-1/status")).Contains("\"running\"", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
                await Task.Delay(50);
            var env = await client.GetStringAsync("/processor/jobs/env-1/log");

            Assert.DoesNotContain(token, env, StringComparison.Ordinal);
            Assert.DoesNotContain("Processor__", env, StringComparison.Ordinal);
            Assert.DoesNotContain("ASPNETCORE_", env, StringComparison.Ordinal);
            Assert.DoesNotContain("DROVER_NODE_TOKEN", env, StringComparison.Ordinal);
            var lines = env.Split('\n');
            Assert.Contains("MINE=the job's own", lines);
            Assert.Contains("DROVER_URL=http://127.0.0.1:1", lines);
            Assert.Contains("LANG=C.UTF-8", lines);
            Assert.Contains(lines, l => l.StartsWith("PATH=", StringComparison.Ordinal));
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            ProcessorHost.DeleteDirectory(state);
        }
    }

    [Fact]
    public async Task More_variables_are_passed_on_only_when_named()
    {
        var name = "DROVER_TEST_PROXY_" + Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();
        Environment.SetEnvironmentVariable("HTTP_PROXY_" + name, "http://proxy.example:3128");
        Environment.SetEnvironmentVariable("OTHER_" + name, "not passed");
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:InheritEnvironment:0", "HTTP_PROXY_" + name);
        var id = await host.SubmitAsync("""{"commands": [{"exec": ["env"]}]}""");
        await host.WaitStoppedAsync(id);
        var env = await host.LogAsync(id);
        Assert.Contains($"HTTP_PROXY_{name}=http://proxy.example:3128", env.Split('\n'));
        Assert.DoesNotContain("OTHER_" + name, env, StringComparison.Ordinal);

        var error = await Assert.ThrowsAnyAsync<Exception>(() => ProcessorHost.StartAsync(null, "--Processor:InheritEnvironment:0", "Processor__Token"));
        Assert.Contains("InheritEnvironment", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_can_be_given_by_file()
    {
        var dir = ProcessorHost.NewStateDirectory();
        var file = Path.Combine(dir, "token");
        await File.WriteAllTextAsync(file, "file-token-123\n");
        await using (var host = await ProcessorHost.StartAsync(null, "--Processor:TokenFile", file))
        {
            using var anonymous = new HttpClient { BaseAddress = host.Address };
            using var refused = await anonymous.GetAsync("/processor/info");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            anonymous.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "file-token-123");
            using var admitted = await anonymous.GetAsync("/processor/info");
            Assert.Equal(HttpStatusCode.OK, admitted.StatusCode);
        }

        var both = await Assert.ThrowsAnyAsync<Exception>(() => ProcessorHost.StartAsync(null, "--Processor:TokenFile", file, "--Processor:Token", "x"));
        Assert.Contains("Processor:TokenFile", both.Message, StringComparison.Ordinal);
        var missing = await Assert.ThrowsAnyAsync<Exception>(() => ProcessorHost.StartAsync(null, "--Processor:TokenFile", file + ".missing"));
        Assert.Contains(file + ".missing", missing.Message, StringComparison.Ordinal);
        await File.WriteAllTextAsync(file, "\n");
        var empty = await Assert.ThrowsAnyAsync<Exception>(() => ProcessorHost.StartAsync(null, "--Processor:TokenFile", file));
        Assert.Contains("one line", empty.Message, StringComparison.Ordinal);
        ProcessorHost.DeleteDirectory(dir);
    }

    [Fact]
    public async Task State_directories_are_0700_and_files_with_secrets_0600()
    {
        var parent = ProcessorHost.NewStateDirectory();
        await using var host = await ProcessorHost.StartAsync(Path.Combine(parent, "state"));
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"commands": [{"exec": ["true"]}], "environment": {"SECRET": "s"}, "request_id": "modes"}""", Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("upload"u8.ToArray()), "input.txt", "input.txt" },
        };
        using var created = await host.Client.PostAsync("/processor/jobs/new", form);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        await host.WaitStoppedAsync("modes");

        var job = Path.Combine(host.JobsRoot, "modes");
        foreach (var dir in new[] { host.StateDirectory, Path.Combine(host.StateDirectory, "processor"), host.JobsRoot, job, Path.Combine(job, "work") })
            Assert.True(File.GetUnixFileMode(dir) == PrivateDirectory, $"{dir}: {File.GetUnixFileMode(dir)}");
        foreach (var file in new[] { "spec.json", "status", "log", "work/input.txt" })
            Assert.True(File.GetUnixFileMode(Path.Combine(job, file)) == Private, $"{file}: {File.GetUnixFileMode(Path.Combine(job, file))}");
        await host.StopAsync();
        ProcessorHost.DeleteDirectory(parent);
    }

    [Fact]
    public async Task Swagger_UI_and_the_document_need_the_token_when_there_is_one()
    {
        await using var host = await ProcessorHost.StartAsync(null, "--Processor:Token", "swagger-token");
        using var anonymous = new HttpClient { BaseAddress = host.Address };
        foreach (var path in new[] { "/swagger/index.html", "/swagger/v1/swagger.json", "/openapi/v1.json" })
        {
            using var refused = await anonymous.GetAsync(path);
            Assert.True(refused.StatusCode == HttpStatusCode.Unauthorized, $"{path}: {(int)refused.StatusCode}");
        }
        using var page = await host.Client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        using var document = await host.Client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, document.StatusCode);
        using var health = await anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Theory]
    [InlineData("--Kestrel:Endpoints:web:Url", "http://0.0.0.0:0")]
    [InlineData("--Kestrel:Endpoints:web:Url", "http://*:0")]
    [InlineData("--urls", "http://127.0.0.1:0;http://[::]:0")]
    [InlineData("--urls", "http://+:0")]
    public void Listening_beyond_loopback_without_a_token_is_refused_however_the_address_is_given(string key, string value)
    {
        var error = Assert.Throws<InvalidOperationException>(() => ProcessorApp.Create([key, value, "--Processor:StateDirectory", Path.GetTempPath()]));
        Assert.Contains("without a token", error.Message, StringComparison.Ordinal);
        using var allowed = ProcessorApp.Create([key, value, "--Processor:StateDirectory", Path.GetTempPath(), "--Processor:Token", "t"]);
    }

    private static async Task WaitUntilUpAsync(HttpClient client, Process process)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(process.HasExited, "the Processor exited at start");
            try
            {
                using var health = await client.GetAsync("/healthz");
                if (health.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
            }
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the Processor did not come up");
            await Task.Delay(100);
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
