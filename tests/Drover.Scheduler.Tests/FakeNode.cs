using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using Drover.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Drover.Scheduler.Tests;

/// <summary>How a <see cref="FakeNode"/> answers the batched status poll.</summary>
public enum FakeStatusAnswer
{
    /// <summary>Every job it was asked about, stopped good.</summary>
    StoppedGood,

    /// <summary>A body that is not JSON at all.</summary>
    NotJson,

    /// <summary>JSON whose only string holds bytes that are not UTF-8 (what a careless shell node could send).</summary>
    InvalidUtf8,
}

/// <summary>
/// A node that speaks just enough of the node protocol over real HTTP on a free 127.0.0.1 port: it records every
/// start (answering it as running, without running anything) and answers the status poll as told.
/// </summary>
public sealed class FakeNode : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeNode(WebApplication app) => _app = app;

    public FakeStatusAnswer StatusAnswer { get; set; } = FakeStatusAnswer.StoppedGood;
    public ConcurrentDictionary<string, NodeJobRequest> Started { get; } = new(StringComparer.Ordinal);
    public ConcurrentQueue<int> PollUrlLengths { get; } = new();
    public Uri Address => new(_app.Urls.First());

    public static async Task<FakeNode> StartAsync(string name, int slots)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Cluster.FreePort()}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var node = new FakeNode(app);
        app.MapGet("/processor/info", () => Results.Json(
            new NodeInfo { Name = name, Uri = node.Address.ToString(), Slots = slots, Features = [NodeFeatures.Slots] }, DroverJson.Options));
        app.MapPost("/processor/jobs/new", async (HttpRequest request) =>
        {
            var job = await JsonSerializer.DeserializeAsync<NodeJobRequest>(request.Body, DroverJson.Options);
            node.Started[job!.RequestId!] = job;
            return Results.Json(Running(job.RequestId!), DroverJson.Options, statusCode: StatusCodes.Status201Created);
        });
        app.MapGet("/processor/jobs/status", (HttpRequest request) =>
        {
            node.PollUrlLengths.Enqueue(request.Path.Value!.Length + request.QueryString.Value!.Length);
            var ids = request.Query["request_id"].SelectMany(v => v!.Split(',')).ToList();
            return node.StatusAnswer switch
            {
                FakeStatusAnswer.NotJson => Results.Text("<html>not json", "application/json"),
                FakeStatusAnswer.InvalidUtf8 => Results.Bytes(
                    [.. Encoding.ASCII.GetBytes("{\"jobs\": [{\"request_id\": \""), 0xff, 0xfe, .. Encoding.ASCII.GetBytes("\", \"state\": \"stopped\"}]}")],
                    "application/json"),
                _ => Results.Json(new NodeJobList { Jobs = ids.Where(node.Started.ContainsKey).Select(Stopped).ToList() }, DroverJson.Options),
            };
        });
        app.MapPost("/processor/jobs/{id}/kill", (string id) => Results.Json(Stopped(id), DroverJson.Options));
        app.MapGet("/processor/jobs/{id}/log", () => Results.Text("", "text/plain"));
        await app.StartAsync();
        return node;
    }

    private static NodeJobStatus Running(string id) =>
        new() { RequestId = id, State = JobState.Running, Status = JobStatus.Unknown, CreatedAt = DateTimeOffset.UtcNow, StartedAt = DateTimeOffset.UtcNow };

    private static NodeJobStatus Stopped(string id) => Running(id) with
    {
        State = JobState.Stopped, Status = JobStatus.Good, ExitCode = 0, FinishedAt = DateTimeOffset.UtcNow,
    };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
