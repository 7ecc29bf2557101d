using System.Diagnostics;
using System.Net;
using System.Text;

namespace Drover.NodeConformance;

/// <summary>A shell node with a small body limit, so that 413 can be seen without sending a gigabyte.</summary>
public sealed class SmallLimitShellNode : ShellNode
{
    public const int MaxBody = 2000;

    public const string NodeSetting = "node-setting-not-for-jobs";

    protected override IReadOnlyDictionary<string, string> LauncherEnvironment => new Dictionary<string, string>
    {
        ["DROVER_SHELL_NODE_MAX_BODY"] = MaxBody.ToString(System.Globalization.CultureInfo.InvariantCulture),
        // Whatever else the node was started with stays with it.
        ["SOME_NODE_SETTING"] = NodeSetting,
    };
}

/// <summary>What only the shell node does (or does not do) beyond the protocol every node answers.</summary>
public sealed class ShellNodeTests(SmallLimitShellNode node) : IClassFixture<SmallLimitShellNode>, IDisposable
{
    private readonly NodeClient _client = NodeClient.Create(node);

    public void Dispose() => _client.Dispose();

    private HashSet<string> Snapshot() =>
        Directory.EnumerateFileSystemEntries(node.StateDirectory!, "*", SearchOption.AllDirectories).ToHashSet(StringComparer.Ordinal);

    [Fact]
    public async Task Jobs_do_not_see_the_token_or_the_request_that_started_them()
    {
        var id = $"env-{Guid.NewGuid():N}";
        using var request = new HttpRequestMessage(HttpMethod.Post, NodeClient.Path("processor/jobs/new"))
        {
            Content = new StringContent($$"""{"request_id": "{{id}}", "commands": [["env"]]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("X-Drover-Probe", "probe-header");
        using var response = await _client.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await _client.WaitStoppedAsync(id);
        var environment = await _client.LogAsync(id);
        Assert.Contains("PATH=", environment, StringComparison.Ordinal);
        Assert.DoesNotContain(node.Token!, environment, StringComparison.Ordinal);
        Assert.DoesNotContain(SmallLimitShellNode.NodeSetting, environment, StringComparison.Ordinal);
        foreach (var leaked in new[] { "HTTP_", "probe-header", "QUERY_STRING", "PATH_INFO", "REQUEST_METHOD", "CONTENT_", "DROVER_SHELL_NODE_" })
            Assert.DoesNotContain(leaked, environment, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_token_is_nowhere_in_the_state_directory_and_not_at_the_old_fixed_path()
    {
        Assert.False(File.Exists(Path.Combine(node.StateDirectory!, "token")));
        foreach (var file in Directory.EnumerateFiles(node.StateDirectory!, "*", SearchOption.AllDirectories))
        {
            if (new FileInfo(file).Length < 1 << 20)
                Assert.DoesNotContain(node.Token!, await File.ReadAllTextAsync(file), StringComparison.Ordinal);
        }
        // What a job finds when it looks: a digest, which is no token.
        var id = $"look-{Guid.NewGuid():N}";
        using var response = await _client.PostJsonAsync("processor/jobs/new",
            $$"""{"request_id": "{{id}}", "commands": [["sh", "-c", "cat ../../../../secret.*/* ../../../../token 2>&1; true"]]}""");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await _client.WaitStoppedAsync(id);
        var seen = await _client.LogAsync(id);
        Assert.DoesNotContain(node.Token!, seen, StringComparison.Ordinal);
        using var withDigest = new HttpRequestMessage(HttpMethod.Get, NodeClient.Path("processor/info"));
        withDigest.Headers.Authorization = new("Bearer", seen.Split('\n')[0].Trim());
        using var refused = await _client.Http.SendAsync(withDigest);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }

    [Theory]
    [InlineData("Origin", "https://evil.example")]
    [InlineData("Origin", "null")]
    [InlineData("Sec-Fetch-Site", "cross-site")]
    public async Task A_page_of_another_site_cannot_start_a_job(string header, string value)
    {
        var disk = Snapshot();
        using var request = new HttpRequestMessage(HttpMethod.Post, NodeClient.Path("processor/jobs/new"))
        {
            Content = new StringContent("""{"commands": [["true"]]}""", Encoding.UTF8, "text/plain"),
        };
        request.Headers.Add(header, value);
        using var response = await _client.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(disk.SetEquals(Snapshot()));
    }

    [Fact]
    public async Task Its_own_origin_and_clients_without_one_may_post()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, NodeClient.Path("processor/jobs/new"))
        {
            Content = new StringContent("""{"commands": [["true"]]}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Origin", node.BaseUri!.GetLeftPart(UriPartial.Authority));
        request.Headers.Add("Sec-Fetch-Site", "same-origin");
        using var response = await _client.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    [Fact]
    public async Task A_message_that_is_not_UTF_8_is_stored_and_answered_as_valid_UTF_8()
    {
        var id = $"utf8-{Guid.NewGuid():N}";
        await _client.SubmitAsync($$"""{"request_id": "{{id}}", "commands": [["sleep", "30"]]}""");
        using var message = new ByteArrayContent([.. "bad "u8, 0xff, .. " caf\u00e9 cut "u8, 0xe2, 0x82]);
        message.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/plain");
        using var posted = await _client.PostAsync($"processor/jobs/{id}/status", message);
        Assert.Equal(HttpStatusCode.OK, posted.StatusCode);

        // A strict decoder throws on any byte that is not UTF-8, as the scheduler's JSON reader refuses such answers.
        var strict = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
        using var one = await _client.GetAsync($"processor/jobs/{id}/status");
        using var status = System.Text.Json.JsonDocument.Parse(strict.GetString(await one.Content.ReadAsByteArrayAsync()));
        Assert.Equal("bad \uFFFD caf\u00e9 cut \uFFFD\uFFFD", status.RootElement.GetProperty("message").GetString());
        using var list = await _client.GetAsync($"processor/jobs/status?request_id={id}");
        using var jobs = System.Text.Json.JsonDocument.Parse(strict.GetString(await list.Content.ReadAsByteArrayAsync()));
        Assert.Equal("bad \uFFFD caf\u00e9 cut \uFFFD\uFFFD", jobs.RootElement.GetProperty("jobs")[0].GetProperty("message").GetString());
        await _client.KillAsync(id);
    }

    [Fact]
    public async Task A_body_over_the_limit_gets_413_and_writes_nothing()
    {
        var disk = Snapshot();
        var body = $$"""{"commands": [["echo", "{{new string('x', SmallLimitShellNode.MaxBody)}}"]]}""";
        using var response = await _client.PostJsonAsync("processor/jobs/new", body);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(disk.SetEquals(Snapshot()));
    }

    [Fact]
    public async Task Multipart_is_refused_with_415_since_the_node_does_not_offer_it()
    {
        var info = await _client.InfoAsync();
        Assert.DoesNotContain("multipart", info["features"]!.AsArray().Select(f => (string)f!));
        var disk = Snapshot();
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"commands": [["cat", "data.txt"]]}""", Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("x"u8.ToArray()), "file", "data.txt" },
        };
        using var response = await _client.PostAsync("processor/jobs/new", form);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.True(disk.SetEquals(Snapshot()));
    }

    [Fact]
    public async Task Unknown_calls_get_404_and_wrong_methods_405()
    {
        using (var unknown = await _client.GetAsync("processor/nothing-here"))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        using (var wrong = await _client.GetAsync("processor/jobs/new"))
        {
            Assert.Equal(HttpStatusCode.MethodNotAllowed, wrong.StatusCode);
            Assert.Contains("POST", wrong.Content.Headers.Allow);
        }
        using (var wrong = await _client.PostAsync("processor/info"))
            Assert.Equal(HttpStatusCode.MethodNotAllowed, wrong.StatusCode);
    }

    [Fact]
    public async Task Jobs_carry_on_across_a_node_restart_and_those_that_died_meanwhile_are_node_restarted()
    {
        var survivor = $"survivor-{Guid.NewGuid():N}";
        var victim = $"victim-{Guid.NewGuid():N}";
        await _client.SubmitAsync($$"""{"request_id": "{{survivor}}", "commands": [["sh", "-c", "sleep 2; echo done"]]}""");
        await _client.SubmitAsync($$"""{"request_id": "{{victim}}", "commands": [["sleep", "30"]]}""");
        await _client.WaitRunningAsync(survivor);
        await _client.WaitRunningAsync(victim);

        await node.StopAsync();
        // The machine "loses" the victim's processes while no node is there to see it.
        var pgid = File.ReadAllText(Path.Combine(node.StateDirectory!, "processor", "job", victim, "pgid")).Trim();
        using (var kill = Process.Start("/bin/sh", ["-c", "kill -KILL \"-$1\"", "kill", pgid]))
            await kill.WaitForExitAsync();
        await node.StartAsync();

        using var client = NodeClient.Create(node);
        var lost = await client.StatusAsync(victim);
        Assert.Equal("stopped", NodeClient.State(lost));
        Assert.Equal("node_restarted", (string?)lost["reason"]);
        var carried = await client.WaitStoppedAsync(survivor);
        Assert.Equal("good", NodeClient.Status(carried));
        Assert.Equal("done\n", await client.LogAsync(survivor));
    }

    [Fact]
    public async Task The_launcher_will_not_listen_beyond_loopback_without_a_token()
    {
        var state = Path.Combine(Path.GetTempPath(), "drover-conformance", "refused-" + Guid.NewGuid().ToString("N"));
        var start = new ProcessStartInfo(Path.Combine(ShellNode.ScriptDirectory, "drover-shell-node"))
        {
            ArgumentList = { "--bind", "0.0.0.0", "--port", "1", "--state", state },
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.Environment.Remove("DROVER_NODE_TOKEN");
        using var launcher = Process.Start(start)!;
        var error = await launcher.StandardError.ReadToEndAsync();
        await launcher.WaitForExitAsync();
        Assert.NotEqual(0, launcher.ExitCode);
        Assert.Contains("needs a --token", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(state));
    }
}

/// <summary>A shell node without a token, on loopback, that also serves one configured name.</summary>
public sealed class OpenShellNode : ShellNode
{
    protected override bool WithToken => false;

    protected override IReadOnlyList<string> LauncherArguments => ["--allowed-hosts", "drover.internal,*.nodes.example"];
}

/// <summary>An open shell node serves loopback and configured host names only (DNS rebinding).</summary>
public sealed class OpenShellNodeTests(OpenShellNode node) : IClassFixture<OpenShellNode>, IDisposable
{
    private readonly NodeClient _client = NodeClient.Create(node);

    public void Dispose() => _client.Dispose();

    [Theory]
    [InlineData("attacker.example", HttpStatusCode.MisdirectedRequest)]
    [InlineData("attacker.example:8082", HttpStatusCode.MisdirectedRequest)]
    [InlineData("127.0.0.1.nip.io", HttpStatusCode.MisdirectedRequest)]
    [InlineData("nodes.example", HttpStatusCode.MisdirectedRequest)]
    [InlineData("localhost", HttpStatusCode.OK)]
    [InlineData("127.0.0.1:8082", HttpStatusCode.OK)]
    [InlineData("[::1]:8082", HttpStatusCode.OK)]
    [InlineData("drover.internal", HttpStatusCode.OK)]
    [InlineData("a.nodes.example:8082", HttpStatusCode.OK)]
    public async Task Only_loopback_and_configured_hosts_are_served(string host, HttpStatusCode expected)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, NodeClient.Path("processor/info"));
        request.Headers.Host = host;
        using var response = await _client.Http.SendAsync(request);
        Assert.Equal(expected, response.StatusCode);
        if (expected != HttpStatusCode.OK)
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}
