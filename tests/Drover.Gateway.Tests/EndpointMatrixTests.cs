using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Drover.ServiceDefaults;

namespace Drover.Gateway.Tests;

/// <summary>
/// Every route of every service's OpenAPI document, asked by every kind of caller, through the gateway and straight
/// to the service that serves it: each answer is the one <see cref="Table"/> says. A route the table does not name
/// fails the test, so no new route can be left out. No <c>Origin</c> is sent: this is about credentials alone.
/// </summary>
[Collection(TrioGroup.Name)]
public sealed class EndpointMatrixTests(Trio trio)
{
    private enum Caller { Anonymous, Read, Submit, Admin, RunningJob, StoppedJob, Node, SchedulerToken, ProcessorToken }

    private enum Answer { Allowed, Unauthorized, Forbidden }

    /// <summary>Who may call a scheduler route: through the gateway (by role) and straight to the scheduler.</summary>
    private sealed record Access(string GatewayRoles, bool JobDirect = false, bool NodeDirect = false);

    private const string Readers = "read submit admin job";
    private const string Submitters = "submit admin job";
    private const string Actors = "submit admin";
    private const string ReadersNoJob = "read submit admin";
    private const string AdminOnly = "admin";

    /// <summary>Who may do what on the scheduler, route by route (the README's Security section in table form).</summary>
    private static readonly Dictionary<string, Access> Table = new(StringComparer.Ordinal)
    {
        ["GET /scheduler/jobs"] = new(Readers, JobDirect: true),
        ["POST /scheduler/jobs/new"] = new(Submitters, JobDirect: true),
        ["POST /scheduler/jobs/batch"] = new(Submitters, JobDirect: true),
        ["GET /scheduler/jobs/summary"] = new(Readers, JobDirect: true),
        ["GET /scheduler/jobs/{id}"] = new(Readers, JobDirect: true),
        ["GET /scheduler/jobs/{id}/status"] = new(Readers, JobDirect: true),
        ["GET /scheduler/jobs/{id}/log"] = new(Readers, JobDirect: true),
        ["GET /scheduler/jobs/{id}/dag"] = new(Readers, JobDirect: true),
        ["POST /scheduler/jobs/{id}/update"] = new(Actors),
        ["POST /scheduler/jobs/{id}/kill"] = new(Actors),
        ["POST /scheduler/jobs/{id}/retry"] = new(Actors),
        ["POST /scheduler/dags/new"] = new(Submitters, JobDirect: true),
        ["GET /scheduler/events"] = new(Readers, JobDirect: true),
        ["GET /scheduler/queue"] = new(ReadersNoJob),
        ["GET /scheduler/queue/{id}"] = new(ReadersNoJob),
        ["DELETE /scheduler/queue/{id}"] = new(AdminOnly),
        ["GET /scheduler/nodes"] = new(ReadersNoJob),
        ["GET /scheduler/nodes/available"] = new(ReadersNoJob),
        ["GET /scheduler/nodes/{name}"] = new(ReadersNoJob),
        ["POST /scheduler/nodes/{name}/drain"] = new(AdminOnly),
        ["POST /scheduler/nodes/{name}/undrain"] = new(AdminOnly),
        ["POST /scheduler/nodes/heartbeat"] = new(AdminOnly, NodeDirect: true),
        ["POST /scheduler/nodes/{name}/jobs"] = new(AdminOnly, NodeDirect: true),
    };

    /// <summary>The node protocol: only the node's token straight to it, only admin keys through the gateway.</summary>
    private static readonly HashSet<string> ProcessorRoutes = new(StringComparer.Ordinal)
    {
        "GET /processor/info",
        "POST /processor/jobs/new",
        "GET /processor/jobs/status",
        "POST /processor/jobs/status",
        "GET /processor/jobs/{request_id}/status",
        "POST /processor/jobs/{request_id}/status",
        "GET /processor/jobs/{request_id}/log",
        "POST /processor/jobs/{request_id}/kill",
    };

    /// <summary>The gateway's own routes: readiness is public; the per-node proxy is asked with every node protocol route.</summary>
    private static readonly HashSet<string> GatewayRoutes = new(StringComparer.Ordinal)
    {
        "GET /readyz",
        "GET /dashboard/session",
        "GET /nodes/{name}/processor/{rest}",
        "POST /nodes/{name}/processor/{rest}",
    };

    [Fact]
    public async Task Every_route_answers_every_caller_as_the_table_says()
    {
        using var admin = trio.Client(Trio.AdminKey);
        var running = await Trio.SubmitAsync(admin, """{"commands": [{"exec": ["sleep", "60"]}], "max_attempts": 1}""");
        var stopped = await Trio.SubmitAsync(admin, """{"commands": [{"exec": ["true"]}], "max_attempts": 1}""");
        await Trio.WaitForStateAsync(admin, running, "running");
        await Trio.WaitForStateAsync(admin, stopped, "stopped");
        var tokens = new Dictionary<Caller, string?>
        {
            [Caller.Anonymous] = null,
            [Caller.Read] = Trio.ReadKey,
            [Caller.Submit] = Trio.SubmitKey,
            [Caller.Admin] = Trio.AdminKey,
            [Caller.RunningJob] = JobTokens.Issue(running, 1, running, Trio.JobTokenKey),
            [Caller.StoppedJob] = JobTokens.Issue(stopped, 1, stopped, Trio.JobTokenKey),
            [Caller.Node] = Trio.NodeCredential,
            [Caller.SchedulerToken] = Trio.SchedulerToken,
            [Caller.ProcessorToken] = Trio.ProcessorToken,
        };

        var scheduler = await RoutesAsync(trio.SchedulerUrl, Trio.SchedulerToken);
        var processor = await RoutesAsync(trio.ProcessorUrl, Trio.ProcessorToken);
        var gateway = await RoutesAsync(trio.GatewayUrl, null);
        Assert.Empty(scheduler.Except(Table.Keys));
        Assert.Empty(Table.Keys.Except(scheduler));
        Assert.Equal(ProcessorRoutes.Order(), processor.Order());
        Assert.Equal(GatewayRoutes.Order(), gateway.Order());

        var failures = new List<string>();
        var cells = 0;
        async Task CheckAsync(Uri service, string method, string path, Caller caller, Answer expected)
        {
            cells++;
            var (status, problem) = await AskAsync(service, method, path, tokens[caller]);
            var got = status switch
            {
                HttpStatusCode.Unauthorized => Answer.Unauthorized,
                HttpStatusCode.Forbidden => Answer.Forbidden,
                _ => Answer.Allowed,
            };
            if (got != expected || (got != Answer.Allowed && !problem) || (int)status >= 500)
                failures.Add($"{caller} {method} {service.Port}{path}: expected {expected}, got {(int)status}{(problem ? "" : " (not problem+json)")}");
        }

        foreach (var route in scheduler)
        {
            var (method, template) = Split(route);
            var access = Table[route];
            var path = Fill(template, stopped);
            foreach (var caller in Enum.GetValues<Caller>())
            {
                await CheckAsync(trio.GatewayUrl, method, path, caller, ThroughGateway(access, caller));
                await CheckAsync(trio.SchedulerUrl, method, path, caller, StraightToScheduler(access, caller));
            }
        }
        foreach (var route in processor)
        {
            var (method, template) = Split(route);
            var path = Fill(template, stopped);
            foreach (var caller in Enum.GetValues<Caller>())
            {
                var viaGateway = caller switch
                {
                    Caller.Admin => Answer.Allowed,
                    Caller.Read or Caller.Submit or Caller.RunningJob or Caller.StoppedJob => Answer.Forbidden,
                    _ => Answer.Unauthorized,
                };
                await CheckAsync(trio.GatewayUrl, method, path, caller, viaGateway);
                await CheckAsync(trio.GatewayUrl, method, $"/nodes/{Trio.NodeName}{path}", caller, viaGateway);
                await CheckAsync(trio.ProcessorUrl, method, path, caller, caller == Caller.ProcessorToken ? Answer.Allowed : Answer.Unauthorized);
            }
        }
        foreach (var caller in Enum.GetValues<Caller>())
        {
            await CheckAsync(trio.GatewayUrl, "GET", "/readyz", caller, Answer.Allowed);
            // Who the caller is (name, role): any key or job token the gateway accepts may ask; it reaches no service.
            await CheckAsync(trio.GatewayUrl, "GET", "/dashboard/session", caller,
                caller is Caller.Read or Caller.Submit or Caller.Admin or Caller.RunningJob or Caller.StoppedJob ? Answer.Allowed : Answer.Unauthorized);
        }

        using var kill = await admin.PostAsync($"/scheduler/jobs/{running}/kill", null);
        Assert.True(failures.Count == 0, $"{failures.Count} of {cells} cells differ:\n" + string.Join('\n', failures));
        Assert.Equal((Table.Count * 2 + ProcessorRoutes.Count * 3 + 2) * tokens.Count, cells);
    }

    private static Answer ThroughGateway(Access access, Caller caller) => caller switch
    {
        Caller.Read or Caller.Submit or Caller.Admin => access.GatewayRoles.Split(' ').Contains(caller.ToString().ToLowerInvariant()) ? Answer.Allowed : Answer.Forbidden,
        // The gateway checks the job role; the scheduler then checks that the job's attempt still runs.
        Caller.RunningJob => access.GatewayRoles.Contains("job", StringComparison.Ordinal) ? Answer.Allowed : Answer.Forbidden,
        Caller.StoppedJob => access.GatewayRoles.Contains("job", StringComparison.Ordinal) ? Answer.Unauthorized : Answer.Forbidden,
        // Service tokens and node credentials are not API keys: they never work from outside.
        _ => Answer.Unauthorized,
    };

    private static Answer StraightToScheduler(Access access, Caller caller) => caller switch
    {
        Caller.SchedulerToken => Answer.Allowed,
        Caller.RunningJob => access.JobDirect ? Answer.Allowed : Answer.Forbidden,
        Caller.Node => access.NodeDirect ? Answer.Allowed : Answer.Forbidden,
        _ => Answer.Unauthorized,
    };

    private static (string Method, string Template) Split(string route) => route.Split(' ', 2) switch { [var m, var t] => (m, t), _ => throw new FormatException(route) };

    // Harmless arguments: a stopped job (kill, update and retry change nothing of it), node and request names nothing
    // carries, except the push, which names the trio's node so that its credential may send it (an empty push).
    private static string Fill(string template, long stopped) => template
        .Replace("{id}", stopped.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal)
        .Replace("{request_id}", "matrix-unknown", StringComparison.Ordinal)
        .Replace("/scheduler/nodes/{name}/jobs", $"/scheduler/nodes/{Trio.NodeName}/jobs", StringComparison.Ordinal)
        .Replace("{name}", "matrix-unknown", StringComparison.Ordinal);

    private static async Task<IReadOnlyList<string>> RoutesAsync(Uri service, string? token)
    {
        using var client = new HttpClient { BaseAddress = service };
        if (token is not null)
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var document = JsonDocument.Parse(await client.GetStringAsync("/openapi/v1.json"));
        var routes = new List<string>();
        foreach (var path in document.RootElement.GetProperty("paths").EnumerateObject())
            foreach (var operation in path.Value.EnumerateObject())
                if (operation.Name is "get" or "post" or "put" or "delete" or "patch")
                    routes.Add($"{operation.Name.ToUpperInvariant()} {path.Name}");
        return routes;
    }

    private static async Task<(HttpStatusCode Status, bool Problem)> AskAsync(Uri service, string method, string path, string? token)
    {
        using var client = new HttpClient { BaseAddress = service, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (token is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (method is "POST")
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        // Headers only: the event stream and followed logs would otherwise never end.
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType == "application/problem+json");
    }
}
