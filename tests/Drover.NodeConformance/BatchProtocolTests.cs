using System.Net;
using System.Text.Json.Nodes;

namespace Drover.NodeConformance;

/// <summary>The batched calls (features batch_start and batch_status), for nodes that announce them.</summary>
public abstract partial class NodeProtocolTests<TNode>
{
    [SkippableFact]
    public async Task A_batch_start_answers_each_job_in_order_and_refuses_a_bad_one_alone()
    {
        var client = await ClientWithFeatureAsync("batch_start");
        var (first, bad, second) = (Id("batch"), Id("batch-bad"), Id("batch"));
        var batch = new object[]
        {
            Spec(first, ["sh", "-c", "echo first"]),
            new Dictionary<string, object> { ["request_id"] = bad, ["commands"] = Array.Empty<object>() },
            Spec(second, ["sh", "-c", "echo second"]),
        };
        using var response = await client.PostJsonAsync("processor/jobs/new", Json(batch));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        var answers = JsonNode.Parse(body)!.AsArray();
        Assert.Equal(3, answers.Count);
        Assert.Equal([201, 400, 201], answers.Select(a => (int)a!["status"]!));
        Assert.Equal(first, (string)answers[0]!["job"]!["request_id"]!);
        Assert.Equal(second, (string)answers[2]!["job"]!["request_id"]!);
        var problem = answers[1]!["problem"]!.AsObject();
        Assert.Equal(400, (int)problem["status"]!);
        Assert.True(problem["errors"] is JsonObject { Count: > 0 }, $"the item's problem names the field at fault: {problem.ToJsonString()}");

        Assert.Equal("good", NodeClient.Status(await client.WaitStoppedAsync(first)));
        Assert.Equal("second\n", await client.LogAsync(second));
        using (var unknown = await client.GetAsync($"processor/jobs/{bad}/status"))
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        // Sent again, the accepted ones are answered as recorded before (200), the bad one refused again.
        using var again = await client.PostJsonAsync("processor/jobs/new", Json(batch));
        var repeated = JsonNode.Parse(await again.Content.ReadAsStringAsync())!.AsArray();
        Assert.Equal([200, 400, 200], repeated.Select(a => (int)a!["status"]!));
    }

    [SkippableFact]
    public async Task The_status_poll_takes_its_ids_in_a_post_body()
    {
        var client = await ClientWithFeatureAsync("batch_status");
        var id = await client.RunAsync(Spec(Id("query"), ["true"]));
        await client.WaitStoppedAsync(id);
        var ids = Enumerable.Range(0, 500).Select(_ => Id("never")).Append(id).ToArray();
        using var response = await client.PostJsonAsync("processor/jobs/status", Json(new { request_ids = ids }));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {body}");
        var jobs = JsonNode.Parse(body)!["jobs"]!.AsArray();
        var job = Assert.Single(jobs)!.AsObject();
        Assert.Equal(id, (string)job["request_id"]!);
        Assert.Equal("stopped", NodeClient.State(job));

        using var bad = await client.PostJsonAsync("processor/jobs/status", "{\"request_ids\": \"not a list\"}");
        await AssertProblemAsync(bad, HttpStatusCode.BadRequest);
    }
}
