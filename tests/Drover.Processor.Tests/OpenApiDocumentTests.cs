using System.Text.Json;
using System.Text.Json.Nodes;
using Drover.Contracts;

namespace Drover.Processor.Tests;

/// <summary>/openapi/v1.json describes every call, and the submit call carries the seed's job as its example.</summary>
public sealed class OpenApiDocumentTests
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options"];

    [Fact]
    public async Task OpenApi_every_operation_has_a_summary_a_description_and_a_tag()
    {
        await using var host = await ProcessorHost.StartAsync();
        var document = await ReadDocumentAsync(host);

        var operations = Operations(document).ToList();
        Assert.Contains(operations, o => o.Key == "post /processor/jobs/new");
        Assert.Contains(operations, o => o.Key == "get /processor/jobs/{request_id}/log");
        Assert.Contains(operations, o => o.Key == "get /processor/info");
        // The singular spelling answers too, but is left out of the document so that each call shows once.
        Assert.DoesNotContain(operations, o => o.Key.Contains("/processor/job/", StringComparison.Ordinal));
        Assert.All(operations, o =>
        {
            Assert.False(string.IsNullOrWhiteSpace(o.Operation["summary"]?.GetValue<string>()), $"{o.Key} has no summary");
            Assert.False(string.IsNullOrWhiteSpace(o.Operation["description"]?.GetValue<string>()), $"{o.Key} has no description");
            Assert.NotEmpty(o.Operation["tags"]?.AsArray() ?? []);
        });
    }

    [Fact]
    public async Task OpenApi_submit_carries_the_seed_job_as_its_example()
    {
        await using var host = await ProcessorHost.StartAsync();
        var document = await ReadDocumentAsync(host);

        var json = document["paths"]!["/processor/jobs/new"]!["post"]!["requestBody"]!["content"]!["application/json"]!;
        var expected = JsonNode.Parse("""{"commands": [{"exec": ["curl", "https://www.google.com/"]}], "environment": {}, "request_id": "123456789"}""");
        Assert.True(JsonNode.DeepEquals(expected, json["example"]), $"example is {json["example"]?.ToJsonString()}");
        Assert.NotNull(json["schema"]);

        // The example is a job the node takes as it is (not sent here: it would reach out of 127.0.0.1).
        var request = json["example"].Deserialize<NodeJobRequest>(DroverJson.Options)!;
        Assert.Empty(JobRules.Check(request));
        Assert.Equal(["curl", "https://www.google.com/"], request.Commands.Single().ToArgv());
    }

    private static async Task<JsonNode> ReadDocumentAsync(ProcessorHost host)
    {
        var text = await host.Client.GetStringAsync("/openapi/v1.json");
        return JsonNode.Parse(text)!;
    }

    private static IEnumerable<(string Key, JsonNode Operation)> Operations(JsonNode document) =>
        document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject()
                .Where(method => Methods.Contains(method.Key))
                .Select(method => ($"{method.Key} {path.Key}", method.Value!)));
}
