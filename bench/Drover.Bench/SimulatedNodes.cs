using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Drover.Bench;

/// <summary>
/// Many light nodes in one in-process Kestrel host, each at <c>http://127.0.0.1:PORT/sim/NNNN</c> (a node's URL may
/// carry a path). A light node speaks the node protocol (docs/node-protocol.md) but runs nothing: it records a start
/// and answers it as already stopped <c>good</c>, so that what is measured is the scheduler's own cost and not
/// process spawning. It registers and keeps itself alive through the heartbeat route, as a Processor does.
/// </summary>
internal sealed class SimulatedNodes : IAsyncDisposable
{
    /// <summary>As often as a Processor heartbeats by default (Processor:HeartbeatInterval).</summary>
    private static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(5);

    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, NodeJobStatus>[] _jobs;
    private readonly int _slots;
    private readonly string _authorization;
    private long _starts;

    private SimulatedNodes(WebApplication app, int count, int slots, string token)
    {
        _app = app;
        _jobs = [.. Enumerable.Range(0, count).Select(_ => new ConcurrentDictionary<string, NodeJobStatus>(StringComparer.Ordinal))];
        _slots = slots;
        _authorization = "Bearer " + token;
    }

    public int Count => _jobs.Length;

    /// <summary>Starts accepted so far, first ones only (a repeated request id is not counted again).</summary>
    public long Starts => Interlocked.Read(ref _starts);

    /// <summary>How many nodes were given at least one job.</summary>
    public int NodesUsed => _jobs.Count(j => !j.IsEmpty);

    private string BaseUrl => _app.Urls.First();

    public static string Name(int node) => "sim" + node.ToString("D4", CultureInfo.InvariantCulture);

    public static async Task<SimulatedNodes> StartAsync(int count, int slots, string token)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var nodes = new SimulatedNodes(app, count, slots, token);
        nodes.Map(app);
        await app.StartAsync();
        return nodes;
    }

    public NodeInfo Info(int node) => new()
    {
        Name = Name(node),
        Hostname = "127.0.0.1",
        Ipv4 = ["127.0.0.1"],
        Uri = $"{BaseUrl}/sim/{node.ToString("D4", CultureInfo.InvariantCulture)}",
        Labels = new Dictionary<string, string> { ["simulated"] = "true" },
        Slots = _slots,
        // Every job stops in the answer that starts it: none is ever running.
        Running = 0,
        Features = [NodeFeatures.Slots, NodeFeatures.Push],
    };

    /// <summary>Posts every node's heartbeat once, several at a time; returns when all of them are registered.</summary>
    public async Task HeartbeatAllAsync(HttpClient scheduler, CancellationToken cancellationToken)
    {
        var heartbeat = new Uri(NodeRoutes.Heartbeat.TrimStart('/'), UriKind.Relative);
        await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = cancellationToken },
            async (node, token) =>
            {
                using var response = await scheduler.PostAsJsonAsync(heartbeat, Info(node), DroverJson.Options, token);
                if (!response.IsSuccessStatusCode)
                    throw new HttpRequestException($"heartbeat of {Name(node)} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(token)}");
            });
    }

    /// <summary>Heartbeats every node each interval until cancelled, so that none is taken for down during a long run.</summary>
    public async Task KeepAliveAsync(HttpClient scheduler, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(HeartbeatInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken))
            {
                try
                {
                    await HeartbeatAllAsync(scheduler, cancellationToken);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
                {
                    // A missed round is what a loaded scheduler does to real nodes too; the next round tries again.
                    Console.Error.WriteLine($"# scale: a heartbeat round failed: {e.Message}");
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    private void Map(WebApplication app)
    {
        // The scheduler sends its node token on every call; a node answers 401 without it.
        app.Use(async (context, next) =>
        {
            if (context.Request.Headers.Authorization != _authorization)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer";
                await Problem(StatusCodes.Status401Unauthorized, "Unauthorized", null).ExecuteAsync(context);
                return;
            }
            await next(context);
        });
        var routes = app.MapGroup("/sim/{node:int}/processor");
        routes.MapGet("/info", (int node) => Known(node) ? Results.Json(Info(node), DroverJson.Options) : UnknownNode());
        // Both of the seed's spellings, as every node answers them.
        foreach (var jobs in new[] { "jobs", "job" })
        {
            routes.MapPost($"/{jobs}/new", (int node, HttpRequest request) => StartAsync(node, request));
            routes.MapGet($"/{jobs}/status", (int node, string[]? request_id) => List(node, request_id));
            routes.MapGet($"/{jobs}/{{request_id}}/status", (int node, string request_id) => Answer(node, request_id, s => Results.Json(s, DroverJson.Options)));
            // Nothing ever runs, so a kill finds the job stopped and changes nothing.
            routes.MapPost($"/{jobs}/{{request_id}}/kill", (int node, string request_id) => Answer(node, request_id, s => Results.Json(s, DroverJson.Options)));
            routes.MapGet($"/{jobs}/{{request_id}}/log", (int node, string request_id) => Answer(node, request_id, _ => Results.Text("", "text/plain")));
        }
    }

    private bool Known(int node) => node >= 0 && node < _jobs.Length;

    private async Task<IResult> StartAsync(int node, HttpRequest request)
    {
        if (!Known(node))
            return UnknownNode();
        string? requestId;
        try
        {
            using var body = await JsonDocument.ParseAsync(request.Body);
            requestId = body.RootElement.TryGetProperty("request_id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;
            if (!body.RootElement.TryGetProperty("commands", out var commands) || commands.ValueKind != JsonValueKind.Array || commands.GetArrayLength() == 0)
                return Problem(StatusCodes.Status400BadRequest, "Invalid job", new() { ["commands"] = ["at least one command is required"] });
        }
        catch (JsonException e)
        {
            return Problem(StatusCodes.Status400BadRequest, "Invalid JSON", new() { ["body"] = [e.Message] });
        }
        if (requestId is not null && !JobRules.IsSafeName(requestId))
            return Problem(StatusCodes.Status400BadRequest, "Invalid job", new() { ["request_id"] = ["not a safe name"] });
        requestId ??= Guid.NewGuid().ToString("N");

        var now = DateTimeOffset.UtcNow;
        var fresh = new NodeJobStatus
        {
            RequestId = requestId, State = JobState.Stopped, Status = JobStatus.Good, ExitCode = 0,
            CreatedAt = now, StartedAt = now, FinishedAt = now,
        };
        var status = _jobs[node].GetOrAdd(requestId, fresh);
        if (!ReferenceEquals(status, fresh))
            return Results.Json(status, DroverJson.Options); // the same request id again: 200, never a second run
        Interlocked.Increment(ref _starts);
        var location = $"{request.PathBase}{request.Path.Value![..^"new".Length]}{Uri.EscapeDataString(requestId)}/status";
        return new WithLocation(Results.Json(status, DroverJson.Options, statusCode: StatusCodes.Status201Created), location);
    }

    private IResult List(int node, string[]? requestIds)
    {
        if (!Known(node))
            return UnknownNode();
        var jobs = _jobs[node];
        IEnumerable<NodeJobStatus> found = requestIds is null or { Length: 0 }
            ? jobs.Values
            : requestIds.SelectMany(r => r.Split(',')).Select(r => jobs.GetValueOrDefault(r)).OfType<NodeJobStatus>();
        return Results.Json(new NodeJobList { Jobs = [.. found] }, DroverJson.Options);
    }

    private IResult Answer(int node, string requestId, Func<NodeJobStatus, IResult> answer)
    {
        if (!Known(node))
            return UnknownNode();
        return _jobs[node].TryGetValue(requestId, out var status)
            ? answer(status)
            : Problem(StatusCodes.Status404NotFound, "No such job", new() { ["request_id"] = [$"no job '{requestId}' on this node"] });
    }

    private static IResult UnknownNode() => Results.Problem(statusCode: StatusCodes.Status404NotFound, title: "No such simulated node");

    private static IResult Problem(int status, string title, Dictionary<string, string[]>? errors) =>
        Results.Problem(statusCode: status, title: title,
            extensions: errors is null ? null : new Dictionary<string, object?> { ["errors"] = errors });

    /// <summary>201 with the <c>Location</c> of the job's status, as the protocol asks.</summary>
    private sealed class WithLocation(IResult inner, string location) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers.Location = location;
            return inner.ExecuteAsync(httpContext);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
