using System.Collections.Concurrent;
using System.Net;
using Drover.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Drover.Processor.Tests;

/// <summary>Just enough of a scheduler to record what a node sends it, under the path <c>/drover</c>.</summary>
internal sealed class FakeScheduler : IAsyncDisposable
{
    private readonly WebApplication _app;
    private int _answer = (int)HttpStatusCode.OK;

    private FakeScheduler(WebApplication app) => _app = app;

    public ConcurrentQueue<NodeInfo> Heartbeats { get; } = new();
    public ConcurrentQueue<(string Node, NodeJobStatus Job)> Pushed { get; } = new();
    public ConcurrentQueue<string> Authorizations { get; } = new();
    public Uri Address => new(_app.Urls.First());

    /// <summary>Where a node finds this scheduler: its address and path.</summary>
    public Uri Url => new(Address, "drover");

    /// <summary>What every call is answered (recorded all the same): 200 unless a test wants a refusal or a failure.</summary>
    public HttpStatusCode Answer
    {
        get => (HttpStatusCode)Volatile.Read(ref _answer);
        set => Volatile.Write(ref _answer, (int)value);
    }

    /// <summary>Starts on <paramref name="port"/> of 127.0.0.1; 0 is any free one.</summary>
    public static async Task<FakeScheduler> StartAsync(int port = 0)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", $"http://127.0.0.1:{port}"]);
        var app = builder.Build();
        var scheduler = new FakeScheduler(app);
        var drover = app.MapGroup("/drover");
        drover.MapPost(NodeRoutes.Heartbeat, async (HttpRequest request) =>
        {
            scheduler.Authorizations.Enqueue(request.Headers.Authorization.ToString());
            scheduler.Heartbeats.Enqueue((await request.ReadFromJsonAsync<NodeInfo>(DroverJson.Options))!);
            return Results.StatusCode((int)scheduler.Answer);
        });
        drover.MapPost(NodeRoutes.PushJobs, async (string name, HttpRequest request) =>
        {
            scheduler.Authorizations.Enqueue(request.Headers.Authorization.ToString());
            foreach (var job in (await request.ReadFromJsonAsync<NodeJobList>(DroverJson.Options))!.Jobs)
                scheduler.Pushed.Enqueue((name, job));
            return Results.StatusCode((int)scheduler.Answer);
        });
        await app.StartAsync();
        return scheduler;
    }

    /// <summary>A loopback port that nothing listens on (for now): a scheduler that is down.</summary>
    public static int DeadPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
