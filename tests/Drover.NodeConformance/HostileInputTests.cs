using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace Drover.NodeConformance;

/// <summary>
/// Strings that would run something if any part of a node pasted them into a shell: each one would create the
/// marker file. They must reach the job byte for byte (or be refused) and the marker must never appear.
/// </summary>
public abstract partial class NodeProtocolTests<TNode>
{
    private static string[] Hostile(string marker) =>
    [
        $"$(touch {marker})",
        $"`touch {marker}`",
        $"; touch {marker}",
        $"&& touch {marker}",
        $"| touch {marker}",
        $"\ntouch {marker}\n",
        $"'; touch {marker}; '",
        $"\"; touch {marker}; \"",
        $"$(touch {marker}",
        "*",
        "/*",
        "$HOME ${PATH} $$",
        "\\",
        "-n",
        "%s%n%d",
        "",
        "tab\there",
    ];

    private static string NewMarker() => Path.Combine("/tmp", $"drover-hostile-{Guid.NewGuid():N}");

    /// <summary>The marker must not exist: looked at here for a node on this machine, or asked of the node through a job.</summary>
    private async Task AssertNothingRanAsync(NodeClient client, string marker)
    {
        if (_node.IsLocal)
        {
            Assert.False(File.Exists(marker), $"a hostile string ran: {marker} exists");
            return;
        }
        var id = await client.RunAsync(Spec(Id("marker"), ["sh", "-c", "test ! -e \"$1\"", "check", marker]));
        Assert.True(NodeClient.Status(await client.WaitStoppedAsync(id)) == "good", $"a hostile string ran: {marker} exists on the node");
    }

    [SkippableFact]
    public async Task Hostile_argv_reaches_the_program_byte_for_byte_and_never_runs()
    {
        var client = Client();
        var marker = NewMarker();
        var hostile = Hostile(marker);
        var id = Id("hostile-argv");
        // The output ends with a line end (echo): a node with a line-based log ends every line with one (docs/node-protocol.md).
        await client.SubmitAsync(Json(Spec(id, ["printf", "%s|", .. hostile], ["echo"])));
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
        Assert.Equal(string.Concat(hostile.Select(h => h + "|")) + "\n", await client.LogAsync(id));

        // A hostile program name is looked up as a program (and not found), never parsed.
        foreach (var program in new[] { $"touch {marker}", $"$(touch {marker})", $"sh -c 'touch {marker}'" })
        {
            var bad = Id("hostile-program");
            await client.SubmitAsync(Json(Spec(bad, [program])));
            Assert.Equal("error", NodeClient.Status(await client.WaitStoppedAsync(bad)));
        }
        await AssertNothingRanAsync(client, marker);
    }

    [SkippableFact]
    public async Task Hostile_environment_values_reach_the_job_byte_for_byte_and_never_run()
    {
        var client = Client();
        var marker = NewMarker();
        var hostile = Hostile(marker);
        var environment = hostile.Select((h, i) => (Name: $"HOSTILE_{i}", Value: h)).ToDictionary(p => p.Name, p => p.Value);
        var print = "printf '%s|' " + string.Join(' ', environment.Keys.Select(k => $"\"${k}\"")) + "; echo";
        var id = Id("hostile-env");
        var spec = new Dictionary<string, object>
        {
            ["request_id"] = id,
            ["environment"] = environment,
            ["commands"] = new[] { new { exec = new[] { "sh", "-c", print } } },
        };
        await client.SubmitAsync(Json(spec));
        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(id)));
        Assert.Equal(string.Concat(hostile.Select(h => h + "|")) + "\n", await client.LogAsync(id));
        await AssertNothingRanAsync(client, marker);
    }

    [SkippableFact]
    public async Task Hostile_ids_queries_headers_and_messages_never_run()
    {
        var client = Client();
        var marker = NewMarker();
        foreach (var hostile in Hostile(marker))
        {
            if (!NodeClient.SafeName().IsMatch(hostile))
            {
                using var create = await client.PostJsonAsync("processor/jobs/new", Json(Spec(hostile, ["true"])));
                await AssertProblemAsync(create, HttpStatusCode.BadRequest);
            }
            if (hostile.Length == 0)
                continue;
            using (var status = await client.GetAsync($"processor/jobs/{Uri.EscapeDataString(hostile)}/status"))
                Assert.True(status.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.BadRequest, $"{hostile}: {(int)status.StatusCode}");
        }
        var query = string.Join('&', Hostile(marker).Select(h => "request_id=" + Uri.EscapeDataString(h)));
        using (var list = await client.GetAsync($"processor/jobs/status?{query}"))
        {
            Assert.Equal(HttpStatusCode.OK, list.StatusCode);
            Assert.Empty((JsonNode.Parse(await list.Content.ReadAsStringAsync())!["jobs"] as JsonArray)!);
        }

        var id = Id("hostile-message");
        await client.SubmitAsync(Json(Spec(id, ["sleep", "30"])));
        await client.WaitRunningAsync(id);
        using (var log = await client.GetAsync($"processor/jobs/{id}/log?offset={Uri.EscapeDataString($"$(touch {marker})")}"))
            await AssertProblemAsync(log, HttpStatusCode.BadRequest);
        foreach (var hostile in Hostile(marker).Where(h => h.Trim('\n').Length > 0 && !h.EndsWith('\n')))
        {
            // The answer to a progress message is the job's status document, carrying the message as recorded.
            using (var json = await client.PostJsonAsync($"processor/jobs/{id}/status", Json(new { message = hostile })))
                Assert.Equal(hostile, (string?)(await NodeClient.ReadObjectAsync(json))["message"]);
            using (var text = await client.PostAsync($"processor/jobs/{id}/status", new StringContent(hostile, Encoding.UTF8, "text/plain")))
                Assert.Equal(hostile, (string?)(await NodeClient.ReadObjectAsync(text))["message"]);
        }
        using (var anonymous = NodeClient.Create(_node, withToken: false))
        {
            anonymous.Http.DefaultRequestHeaders.TryAddWithoutValidation("Authorization", $"Bearer $(touch {marker})");
            anonymous.Http.DefaultRequestHeaders.TryAddWithoutValidation("X-Drover-Hostile", $"`touch {marker}`");
            using var info = await anonymous.GetAsync("processor/info");
            Assert.True(info.StatusCode is HttpStatusCode.Unauthorized or HttpStatusCode.OK, $"{(int)info.StatusCode}");
        }
        await client.KillAsync(id);
        await AssertNothingRanAsync(client, marker);
    }
}
