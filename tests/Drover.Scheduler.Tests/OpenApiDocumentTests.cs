using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>
/// /openapi/v1.json describes every call, and the submit calls carry examples that the scheduler takes as they are
/// (sent to a scheduler without nodes, so nothing runs and nothing leaves 127.0.0.1).
/// </summary>
public sealed class OpenApiDocumentTests : IAsyncLifetime
{
    private static readonly string[] Methods = ["get", "put", "post", "delete", "patch", "head", "options"];
    private Cluster _cluster = null!;
    private JsonNode _document = null!;

    public async Task InitializeAsync()
    {
        _cluster = await Cluster.StartAsync(0);
        _document = JsonNode.Parse(await _cluster.Client.GetStringAsync("/openapi/v1.json"))!;
    }

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Fact]
    public void OpenApi_every_operation_has_a_summary_a_description_and_a_tag()
    {
        var operations = _document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject()
                .Where(method => Methods.Contains(method.Key))
                .Select(method => (Key: $"{method.Key} {path.Key}", Operation: method.Value!)))
            .ToList();

        string[] expected =
        [
            "post /scheduler/jobs/new", "get /scheduler/jobs", "get /scheduler/queue", "get /scheduler/nodes",
            "post /scheduler/dags/new", "get /scheduler/jobs/{id}/dag", "get /scheduler/events",
        ];
        Assert.All(expected, key => Assert.Contains(operations, o => o.Key == key));
        Assert.All(operations, o =>
        {
            Assert.False(string.IsNullOrWhiteSpace(o.Operation["summary"]?.GetValue<string>()), $"{o.Key} has no summary");
            Assert.False(string.IsNullOrWhiteSpace(o.Operation["description"]?.GetValue<string>()), $"{o.Key} has no description");
            Assert.NotEmpty(o.Operation["tags"]?.AsArray() ?? []);
        });
    }

    [Fact]
    public async Task OpenApi_submit_carries_the_seed_job_as_json_and_as_a_form()
    {
        var content = _document["paths"]!["/scheduler/jobs/new"]!["post"]!["requestBody"]!["content"]!;
        var json = content["application/json"]!["example"];
        var form = content["application/x-www-form-urlencoded"]!["example"];
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"commands": [{"command": ["curl", "https://www.google.com/"]}]}"""), json), json?.ToJsonString());
        Assert.Equal("curl \"https://www.google.com/\"", form?["command"]?.GetValue<string>());

        // Both are taken as they are, and mean the same job.
        using var byJson = await _cluster.PostJsonAsync("/scheduler/jobs/new", json!.ToJsonString());
        using var byForm = await _cluster.PostFormAsync("/scheduler/jobs/new",
            [.. form!.AsObject().Select(field => (field.Key, field.Value!.GetValue<string>()))]);
        foreach (var response in new[] { byJson, byForm })
        {
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
            var answer = (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!;
            var job = await _cluster.JobAsync(answer.JobId);
            Assert.Equal(["curl", "https://www.google.com/"], job.Spec.Commands.Single().ToArgv());
            Assert.Equal(JobState.Queued, job.State);
        }
    }

    [Fact]
    public async Task OpenApi_dag_submit_carries_a_diamond()
    {
        var example = _document["paths"]!["/scheduler/dags/new"]!["post"]!["requestBody"]!["content"]!["application/json"]!["example"]!;
        var jobs = example["jobs"]!.AsObject();
        Assert.Equal(4, jobs.Count);

        using var response = await _cluster.PostJsonAsync("/scheduler/dags/new", example.ToJsonString());
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
        var answer = (await response.Content.ReadFromJsonAsync<DagAnswer>(DroverJson.Options))!;
        var dag = (await _cluster.Client.GetFromJsonAsync<DagView>(answer.Href, DroverJson.Options))!;

        // A diamond: one job first, two after it, one after both.
        var dependencies = dag.Edges.Where(e => e.Kind != "child").ToList();
        Assert.Equal(4, dag.Jobs.Count);
        Assert.Equal(4, dependencies.Count);
        var first = Assert.Single(dag.Jobs, j => dependencies.All(e => e.To != j.JobId));
        var last = Assert.Single(dag.Jobs, j => dependencies.All(e => e.From != j.JobId));
        Assert.Equal(2, dependencies.Count(e => e.From == first.JobId));
        Assert.Equal(2, dependencies.Count(e => e.To == last.JobId));
    }
}
