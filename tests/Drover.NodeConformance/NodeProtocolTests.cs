using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Drover.NodeConformance;

/// <summary>
/// The node protocol of docs/node-protocol.md, checked from the outside over HTTP only. Every node kind runs this
/// same code (see Conformance.cs). Tests of an optional feature the node does not list in <c>features</c> are
/// reported as skipped with that reason.
/// </summary>
public abstract partial class NodeProtocolTests<TNode> : IClassFixture<TNode>, IDisposable where TNode : NodeUnderTest
{
    private static readonly string[] KnownFeatures = ["log_follow", "slots", "multipart", "push", "batch_start", "batch_status"];
    private static readonly string[] States = ["queued", "running", "stopped"];
    private readonly TNode _node;
    private readonly NodeClient _client;

    protected NodeProtocolTests(TNode node)
    {
        ArgumentNullException.ThrowIfNull(node);
        _node = node;
        _client = node.BaseUri is null ? null! : NodeClient.Create(node);
    }

    public void Dispose()
    {
        _client?.Dispose();
        GC.SuppressFinalize(this);
    }

    private NodeClient Client()
    {
        Skip.If(_node.Unavailable is not null, _node.Unavailable);
        return _client;
    }

    private async Task<NodeClient> ClientWithFeatureAsync(string feature)
    {
        var client = Client();
        var features = ((await client.InfoAsync())["features"] as JsonArray)!.Select(f => (string)f!).ToList();
        Skip.IfNot(features.Contains(feature), $"the node does not offer the optional feature \"{feature}\" (its /processor/info features: [{string.Join(", ", features)}])");
        return client;
    }

    private static string Id(string prefix) => $"{prefix}-{Guid.NewGuid():N}";

    private static string Json(object value) => JsonSerializer.Serialize(value);

    private static Dictionary<string, object> Spec(string id, params string[][] argvs) =>
        new Dictionary<string, object> { ["request_id"] = id, ["commands"] = argvs.Select(a => new { exec = a }).ToArray() };

    private static async Task AssertProblemAsync(HttpResponseMessage response, HttpStatusCode expected, bool namesAField = true)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonNode.Parse(body)!.AsObject();
        Assert.Equal((int)expected, (int)problem["status"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["title"]), $"a problem has a title: {body}");
        if (namesAField)
            Assert.True(problem["errors"] is JsonObject { Count: > 0 }, $"the problem names the field at fault in \"errors\": {body}");
    }

    // ---- /processor/info and the token ------------------------------------------------------------------

    [SkippableFact]
    public async Task Info_describes_the_node_and_lists_only_known_features()
    {
        var info = await Client().InfoAsync();
        Assert.False(string.IsNullOrWhiteSpace((string?)info["name"]));
        Assert.NotNull((string?)info["hostname"]);
        Assert.True(info["ipv4"] is JsonArray, info.ToJsonString());
        Assert.NotNull((string?)info["uri"]);
        Assert.True(info["labels"] is JsonObject, info.ToJsonString());
        Assert.True((int)info["slots"]! >= 0 && (int)info["running"]! >= 0, info.ToJsonString());
        var features = (info["features"] as JsonArray)!.Select(f => (string)f!).ToList();
        Assert.All(features, f => Assert.Contains(f, KnownFeatures));
    }

    [SkippableFact]
    public async Task Every_call_needs_the_token_when_one_is_configured()
    {
        Client();
        Skip.If(_node.Token is null, "the node was given without a token (DROVER_NODE_TOKEN)");
        using var anonymous = NodeClient.Create(_node, withToken: false);
        var id = Id("token");
        foreach (var call in new Func<Task<HttpResponseMessage>>[]
        {
            () => anonymous.GetAsync("processor/info"),
            () => anonymous.GetAsync("processor/jobs/status"),
            () => anonymous.PostJsonAsync("processor/jobs/new", Json(Spec(id, ["true"]))),
            () => anonymous.GetAsync($"processor/jobs/{id}/status"),
            () => anonymous.GetAsync($"processor/jobs/{id}/log"),
            () => anonymous.PostAsync($"processor/jobs/{id}/kill"),
        })
        {
            using var response = await call();
            await AssertProblemAsync(response, HttpStatusCode.Unauthorized, namesAField: false);
            Assert.Contains(response.Headers.WwwAuthenticate, h => h.Scheme == "Bearer");
        }
        anonymous.Http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _node.Token + "x");
        using (var wrong = await anonymous.GetAsync("processor/info"))
            await AssertProblemAsync(wrong, HttpStatusCode.Unauthorized, namesAField: false);
        // The refused submission recorded nothing.
        Assert.DoesNotContain(await Client().ListAsync(), j => (string)j["request_id"]! == id);
    }

    // ---- creating and running jobs ------------------------------------------------------------------------

    [SkippableFact]
    public async Task A_job_is_created_with_201_and_runs_to_good()
    {
        var client = Client();
        var id = Id("create");
        using var response = await client.PostJsonAsync("processor/jobs/new", Json(Spec(id, ["sh", "-c", "echo hello"])));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        Assert.EndsWith($"processor/jobs/{id}/status", response.Headers.Location?.OriginalString);
        var created = JsonNode.Parse(body)!.AsObject();
        Assert.Equal(id, (string)created["request_id"]!);
        Assert.Contains(NodeClient.State(created), States);
        Assert.True(DateTimeOffset.TryParse((string)created["created_at"]!, CultureInfo.InvariantCulture, DateTimeStyles.None, out _), body);

        var done = await client.WaitStoppedAsync(id);
        Assert.Equal("good", NodeClient.Status(done));
        Assert.Equal(0, (int)done["exit_code"]!);
        Assert.Null(done["reason"]);
        var started = DateTimeOffset.Parse((string)done["started_at"]!, CultureInfo.InvariantCulture);
        var finished = DateTimeOffset.Parse((string)done["finished_at"]!, CultureInfo.InvariantCulture);
        Assert.True(finished >= started, done.ToJsonString());
        Assert.Equal("hello\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task A_job_without_request_id_gets_a_safe_one()
    {
        var client = Client();
        var created = await client.SubmitAsync("""{"commands": [["true"]]}""");
        var id = (string)created["request_id"]!;
        Assert.Matches(NodeClient.SafeName(), id);
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
    }

    [SkippableFact]
    public async Task Every_spelling_of_a_command_runs()
    {
        var client = Client();
        var id = Id("spellings");
        await client.SubmitAsync($$"""
            {"request_id": "{{id}}", "commands": [
              {"exec": ["printf", "exec "]}, {"command": ["printf", "command "]}, ["printf", "bare "],
              {"shell": "printf 'shell %s\\n' $((40 + 2))"}]}
            """);
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
        Assert.Equal("exec command bare shell 42\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task Both_url_spellings_answer_every_call()
    {
        var client = Client();
        var id = Id("seed");
        var created = await client.SubmitAsync(Json(Spec(id, ["sh", "-c", "echo started; exec sleep 30"])), spelling: "job");
        Assert.Equal(id, (string)created["request_id"]!);
        await client.WaitRunningAsync(id);
        Assert.Equal("running", NodeClient.State(await client.StatusAsync(id, spelling: "job")));
        using (var message = await client.PostJsonAsync($"processor/job/{id}/status", """{"message": "via job/"}"""))
            Assert.Equal(HttpStatusCode.OK, message.StatusCode);
        Assert.Equal("via job/", (string?)(await client.StatusAsync(id))["message"]);
        using (var list = await client.GetAsync($"processor/job/status?request_id={id}"))
            Assert.Contains(id, await list.Content.ReadAsStringAsync());
        using (var log = await client.GetAsync($"processor/job/{id}/log"))
            Assert.Equal(HttpStatusCode.OK, log.StatusCode);
        var killed = await client.KillAsync(id, spelling: "job");
        Assert.Equal("stopped", NodeClient.State(killed));
        Assert.Equal("killed", (string?)killed["reason"]);
    }

    [SkippableFact]
    public async Task Status_says_running_while_it_runs_and_stopped_after()
    {
        var client = Client();
        var id = Id("running");
        await client.SubmitAsync(Json(Spec(id, ["sleep", "30"])));
        var running = await client.WaitRunningAsync(id);
        Assert.Equal("unknown", NodeClient.Status(running));
        Assert.Null(running["exit_code"]);
        Assert.Null(running["finished_at"]);
        Assert.NotNull((string?)running["started_at"]);
        Assert.Contains(await client.ListAsync(), j => (string)j["request_id"]! == id && NodeClient.State(j) == "running");

        var killed = await client.KillAsync(id);
        Assert.Equal("stopped", NodeClient.State(killed));
        Assert.Equal("error", NodeClient.Status(killed));
        Assert.Equal("killed", (string?)killed["reason"]);
        Assert.Null(killed["exit_code"]);
        Assert.NotNull((string?)killed["finished_at"]);
        // Killing a stopped job changes nothing and answers its status.
        var again = await client.KillAsync(id);
        Assert.Equal(killed["finished_at"]!.ToJsonString(), again["finished_at"]!.ToJsonString());
        Assert.Equal("killed", (string?)again["reason"]);
    }

    [SkippableFact]
    public async Task The_first_failing_command_ends_the_job_with_its_exit_code()
    {
        var client = Client();
        var id = Id("fail");
        await client.SubmitAsync(Json(Spec(id, ["sh", "-c", "echo one"], ["sh", "-c", "echo two; exit 3"], ["sh", "-c", "echo three"])));
        var done = await client.WaitStoppedAsync(id);
        Assert.Equal("error", NodeClient.Status(done));
        Assert.Equal("exit_code", (string?)done["reason"]);
        Assert.Equal(3, (int)done["exit_code"]!);
        Assert.Equal("one\ntwo\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task A_missing_program_fails_the_job()
    {
        var client = Client();
        var id = Id("missing");
        await client.SubmitAsync(Json(Spec(id, ["drover-no-such-program-" + Guid.NewGuid().ToString("N")], ["sh", "-c", "echo after"])));
        var done = await client.WaitStoppedAsync(id);
        Assert.Equal("error", NodeClient.Status(done));
        Assert.DoesNotContain("after", await client.LogAsync(id), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Stdout_and_stderr_go_to_the_log_in_order()
    {
        var client = Client();
        var id = Id("order");
        await client.SubmitAsync(Json(Spec(id, ["sh", "-c", "echo out1; echo err1 >&2; echo out2"], ["sh", "-c", "echo err2 >&2"])));
        await client.WaitStoppedAsync(id);
        Assert.Equal("out1\nerr1\nout2\nerr2\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task The_environment_is_added_to_the_nodes_own()
    {
        var client = Client();
        var id = Id("env");
        var spec = new Dictionary<string, object>
        {
            ["request_id"] = id,
            ["environment"] = new Dictionary<string, string> { ["DROVER_CONFORMANCE_A"] = "one two", ["DROVER_CONFORMANCE_B"] = "grüße" },
            ["commands"] = new[] { new { exec = new[] { "sh", "-c", "printf '%s|%s|%s\\n' \"$DROVER_CONFORMANCE_A\" \"$DROVER_CONFORMANCE_B\" \"${PATH:+has-path}\"" } } },
        };
        await client.SubmitAsync(Json(spec));
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
        Assert.Equal("one two|grüße|has-path\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task The_log_starts_at_a_byte_offset()
    {
        var client = Client();
        var id = Id("offset");
        // Whole lines (a node with a line-based log ends every line with a line end).
        await client.SubmitAsync(Json(Spec(id, ["printf", "hello world\\n"])));
        await client.WaitStoppedAsync(id);
        Assert.Equal("hello world\n", await client.LogAsync(id));
        Assert.Equal("world\n", await client.LogAsync(id, "?offset=6"));
        Assert.Equal("", await client.LogAsync(id, "?offset=12"));
        Assert.Equal("", await client.LogAsync(id, "?offset=1000"));
        foreach (var bad in new[] { "-1", "abc", "1.5" })
        {
            using var response = await client.GetAsync($"processor/jobs/{id}/log?offset={bad}");
            await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        }
    }

    [SkippableFact]
    public async Task A_running_job_records_a_progress_message()
    {
        var client = Client();
        var id = Id("progress");
        await client.SubmitAsync(Json(Spec(id, ["sleep", "30"])));
        await client.WaitRunningAsync(id);
        using (var json = await client.PostJsonAsync($"processor/jobs/{id}/status", """{"message": "step 2 of 5"}"""))
        {
            Assert.Equal(HttpStatusCode.OK, json.StatusCode);
            Assert.Equal("step 2 of 5", (string?)(await NodeClient.ReadObjectAsync(json))["message"]);
        }
        Assert.Equal("step 2 of 5", (string?)(await client.StatusAsync(id))["message"]);
        using (var text = await client.PostAsync($"processor/jobs/{id}/status", new StringContent("step 3 of 5 \"quoted\"\n", Encoding.UTF8, "text/plain")))
            Assert.Equal(HttpStatusCode.OK, text.StatusCode);
        Assert.Equal("step 3 of 5 \"quoted\"", (string?)(await client.StatusAsync(id))["message"]);
        using (var bad = await client.PostJsonAsync($"processor/jobs/{id}/status", """{"message": 5}"""))
            await AssertProblemAsync(bad, HttpStatusCode.BadRequest);
        Assert.Equal("step 3 of 5 \"quoted\"", (string?)(await client.StatusAsync(id))["message"]);
        await client.KillAsync(id);
    }

    // ---- kill and timeout ---------------------------------------------------------------------------------

    [SkippableFact]
    public async Task Kill_ends_the_whole_process_tree()
    {
        var client = Client();
        var id = Id("tree");
        // The sleeps carry a unique duration, so their processes can be found by their arguments.
        var marker = "900." + Random.Shared.Next(100000, 999999).ToString(CultureInfo.InvariantCulture);
        await client.SubmitAsync(Json(Spec(id, ["sh", "-c", $"sleep {marker} & sleep {marker}"])));
        await client.WaitRunningAsync(id);
        await WaitUntilAsync(async () => await CountProcessesAsync(client, marker) == 2, "both sleeps to start");

        var killed = await client.KillAsync(id);
        Assert.Equal("stopped", NodeClient.State(killed));
        Assert.Equal("error", NodeClient.Status(killed));
        Assert.Equal("killed", (string?)killed["reason"]);
        await WaitUntilAsync(async () => await CountProcessesAsync(client, marker) == 0, "no process of the job to be left", seconds: 10);
    }

    [SkippableFact]
    public async Task A_job_over_its_timeout_is_killed_as_timed_out()
    {
        var client = Client();
        var id = Id("timeout");
        var spec = new Dictionary<string, object> { ["request_id"] = id, ["timeout_seconds"] = 1, ["commands"] = new[] { new { exec = new[] { "sleep", "30" } } } };
        await client.SubmitAsync(Json(spec));
        var done = await client.WaitStoppedAsync(id, seconds: 25);
        Assert.Equal("error", NodeClient.Status(done));
        Assert.Equal("timed_out", (string?)done["reason"]);
        Assert.Null(done["exit_code"]);
    }

    // ---- idempotency, lists, unknown ids ------------------------------------------------------------------

    [SkippableFact]
    public async Task The_same_request_id_never_runs_twice()
    {
        var client = Client();
        var id = Id("idem");
        var first = await client.SubmitAsync(Json(Spec(id, ["sh", "-c", "echo ran"])));
        using (var second = await client.PostJsonAsync("processor/jobs/new", Json(Spec(id, ["sh", "-c", "echo second"]))))
        {
            Assert.Equal(HttpStatusCode.OK, second.StatusCode);
            var again = await NodeClient.ReadObjectAsync(second);
            Assert.Equal(id, (string)again["request_id"]!);
            Assert.Equal((string)first["created_at"]!, (string)again["created_at"]!);
        }
        await client.WaitStoppedAsync(id);
        Assert.Equal("ran\n", await client.LogAsync(id));

        // Two identical requests at once: one creates, the other finds it.
        var racing = Id("race");
        var answers = await Task.WhenAll(Enumerable.Range(0, 2).Select(_ => client.PostJsonAsync("processor/jobs/new", Json(Spec(racing, ["sh", "-c", "echo once"])))));
        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.Created], answers.Select(a => a.StatusCode).Order());
        foreach (var answer in answers)
            answer.Dispose();
        await client.WaitStoppedAsync(racing);
        Assert.Equal("once\n", await client.LogAsync(racing));
    }

    [SkippableFact]
    public async Task The_status_list_answers_all_jobs_or_those_asked_for()
    {
        var client = Client();
        var a = await client.RunAsync(Spec(Id("list-a"), ["true"]));
        var b = await client.RunAsync(Spec(Id("list-b"), ["true"]));
        var all = await client.ListAsync();
        Assert.Contains(all, j => (string)j["request_id"]! == a);
        Assert.Contains(all, j => (string)j["request_id"]! == b);
        var some = await client.ListAsync($"?request_id={a}&request_id={b}&request_id=no-such-job-{Guid.NewGuid():N}");
        Assert.Equal(new[] { a, b }.Order(), some.Select(j => (string)j["request_id"]!).Order());
    }

    [SkippableFact]
    public async Task Unknown_ids_get_404_problem()
    {
        var client = Client();
        var id = Id("unknown");
        foreach (var spelling in new[] { "jobs", "job" })
        {
            using (var status = await client.GetAsync($"processor/{spelling}/{id}/status"))
                await AssertProblemAsync(status, HttpStatusCode.NotFound, namesAField: false);
            using (var message = await client.PostJsonAsync($"processor/{spelling}/{id}/status", """{"message": "x"}"""))
                await AssertProblemAsync(message, HttpStatusCode.NotFound, namesAField: false);
            using (var log = await client.GetAsync($"processor/{spelling}/{id}/log"))
                await AssertProblemAsync(log, HttpStatusCode.NotFound, namesAField: false);
            using (var kill = await client.PostAsync($"processor/{spelling}/{id}/kill"))
                await AssertProblemAsync(kill, HttpStatusCode.NotFound, namesAField: false);
        }
        Assert.DoesNotContain(await client.ListAsync(), j => (string)j["request_id"]! == id);
    }

    // ---- bad input --------------------------------------------------------------------------------------

    [SkippableTheory]
    [MemberData(nameof(BadInput.Bodies), MemberType = typeof(BadInput))]
    public async Task A_bad_body_gets_400_problem_and_writes_nothing(string why, string body)
    {
        var client = Client();
        // A node the suite started is looked at on disk (every file); any other through its job list.
        var before = _node.StateDirectory is null ? (await client.ListAsync()).Count : 0;
        var disk = Snapshot();
        using var response = await client.PostJsonAsync("processor/jobs/new", body);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        if (_node.StateDirectory is null)
            Assert.Equal(before, (await client.ListAsync()).Count);
        Assert.True(disk.SetEquals(Snapshot()), $"{why}: the refused body changed the node's state directory");
    }

    [SkippableFact]
    public async Task A_body_that_is_not_json_gets_415()
    {
        var client = Client();
        var disk = Snapshot();
        using var response = await client.PostAsync("processor/jobs/new", new StringContent("""{"commands": [["true"]]}""", Encoding.UTF8, "text/plain"));
        await AssertProblemAsync(response, HttpStatusCode.UnsupportedMediaType, namesAField: false);
        Assert.True(disk.SetEquals(Snapshot()));
    }

    /// <summary>Every path under the node's state directory (when the suite started the node), to prove nothing was written.</summary>
    private HashSet<string> Snapshot() =>
        _node.StateDirectory is { } state
            ? Directory.EnumerateFileSystemEntries(state, "*", SearchOption.AllDirectories).ToHashSet(StringComparer.Ordinal)
            : [];

    // ---- optional features ------------------------------------------------------------------------------

    [SkippableFact]
    public async Task Multipart_files_land_in_the_working_directory()
    {
        var client = await ClientWithFeatureAsync("multipart");
        var id = Id("upload");
        using var form = new MultipartFormDataContent
        {
            { new StringContent(Json(Spec(id, ["cat", "data.txt"])), Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("hello file\n"u8.ToArray()), "file", "data.txt" },
        };
        using var response = await client.PostAsync("processor/jobs/new", form);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
        Assert.Equal("hello file\n", await client.LogAsync(id));
    }

    [SkippableFact]
    public async Task Multipart_with_an_unsafe_file_name_gets_400_and_writes_nothing()
    {
        var client = await ClientWithFeatureAsync("multipart");
        var id = Id("upload-bad");
        var disk = Snapshot();
        using var form = new MultipartFormDataContent
        {
            { new StringContent(Json(Spec(id, ["true"])), Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("x"u8.ToArray()), "file", "../escape.txt" },
        };
        using var response = await client.PostAsync("processor/jobs/new", form);
        await AssertProblemAsync(response, HttpStatusCode.BadRequest);
        using var status = await client.GetAsync($"processor/jobs/{id}/status");
        Assert.Equal(HttpStatusCode.NotFound, status.StatusCode);
        Assert.True(disk.SetEquals(Snapshot()));
    }

    [SkippableFact]
    public async Task Log_follow_streams_until_the_job_stops()
    {
        var client = await ClientWithFeatureAsync("log_follow");
        var id = Id("follow");
        await client.SubmitAsync(Json(Spec(id, ["sh", "-c", "echo a; sleep 1; echo b"])));
        using var request = new HttpRequestMessage(HttpMethod.Get, NodeClient.Path($"processor/jobs/{id}/log?follow=true"));
        using var response = await client.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var streamed = await response.Content.ReadAsStringAsync(cancel.Token);
        Assert.Equal("a\nb\n", streamed);
        // The stream ended because the job stopped.
        Assert.Equal("stopped", NodeClient.State(await client.StatusAsync(id)));
    }

    [SkippableFact]
    public async Task A_full_node_answers_429_and_records_nothing()
    {
        var client = await ClientWithFeatureAsync("slots");
        var info = await client.InfoAsync();
        var free = (int)info["slots"]! - (int)info["running"]!;
        Skip.If(free > 16, $"the node has {free} free slots; the suite fills at most 16");
        var ids = new List<string>();
        try
        {
            for (var i = 0; i < free; i++)
                ids.Add(await client.RunAsync(Spec(Id("slot"), ["sleep", "30"])));
            var extra = Id("slot-extra");
            using var response = await client.PostJsonAsync("processor/jobs/new", Json(Spec(extra, ["true"])));
            await AssertProblemAsync(response, HttpStatusCode.TooManyRequests, namesAField: false);
            Assert.NotNull(response.Headers.RetryAfter);
            using var status = await client.GetAsync($"processor/jobs/{extra}/status");
            Assert.Equal(HttpStatusCode.NotFound, status.StatusCode);
        }
        finally
        {
            foreach (var id in ids)
                await client.KillAsync(id);
        }
    }

    // ---- helpers ----------------------------------------------------------------------------------------

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int seconds = 20)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(100);
        }
    }

    /// <summary>
    /// How many processes carry <paramref name="marker"/> in their arguments: read from /proc here for a node on
    /// this machine, or asked of the node itself through a job for any other (one argument a line; the pattern is
    /// written so that the job's own arguments do not match it).
    /// </summary>
    private async Task<int> CountProcessesAsync(NodeClient client, string marker)
    {
        if (_node.IsLocal)
        {
            var count = 0;
            foreach (var dir in Directory.EnumerateDirectories("/proc"))
            {
                if (!int.TryParse(Path.GetFileName(dir), out var pid) || pid == Environment.ProcessId)
                    continue;
                try
                {
                    var args = File.ReadAllText(Path.Combine(dir, "cmdline")).Split('\0');
                    if (args.Contains(marker) && !IsZombie(dir))
                        count++;
                }
                catch (IOException)
                {
                    // The process ended while we looked.
                }
                catch (UnauthorizedAccessException)
                {
                }
            }
            return count;
        }
        var pattern = "[" + marker[0] + "]" + marker[1..].Replace(".", "\\.", StringComparison.Ordinal);
        var id = await client.RunAsync(Spec(Id("ps"), ["sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\000' '\\n' <\"$f\"; done 2>/dev/null | grep -cx -- \"$1\" || true", "count", pattern]));
        await client.WaitStoppedAsync(id);
        return int.Parse((await client.LogAsync(id)).Trim(), CultureInfo.InvariantCulture);
    }

    private static bool IsZombie(string procDir)
    {
        var stat = File.ReadAllText(Path.Combine(procDir, "stat"));
        var state = stat[(stat.LastIndexOf(')') + 2)..];
        return state.StartsWith('Z') || state.StartsWith('X');
    }
}
