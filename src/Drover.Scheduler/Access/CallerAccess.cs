using System.Security.Cryptography;
using System.Text;
using Drover.Contracts;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;

namespace Drover.Scheduler.Access;

/// <summary>
/// Who may call: with <c>Scheduler:Token</c> set, callers (the gateway, nodes) send it as a bearer token. Two narrower
/// credentials are accepted besides it:
/// <list type="bullet">
/// <item>a job's own token (<c>DROVER_TOKEN</c>, under <c>Scheduler:JobTokenKey</c>), only to read jobs and submit new
/// ones, and only while the attempt it was issued to is placed or running (or stopped less than
/// <c>Scheduler:JobTokenGrace</c> ago); the calling job is kept on the request, so a job it submits records it as its parent;</item>
/// <item>a node's credential (<c>Scheduler:NodeCredentials:&lt;name&gt;</c>), only to heartbeat and push as that node.</item>
/// </list>
/// </summary>
internal static class CallerAccess
{
    private const string CallerJobKey = "drover.caller_job";
    private const string CallerNodeKey = "drover.caller_node";

    /// <summary>The job whose token made this request, if any.</summary>
    public static JobTokenClaims? CallerJob(this HttpContext context) =>
        context.Items.TryGetValue(CallerJobKey, out var value) ? value as JobTokenClaims : null;

    /// <summary>The node whose credential made this request, if any: it may speak for that node only.</summary>
    public static string? CallerNode(this HttpContext context) =>
        context.Items.TryGetValue(CallerNodeKey, out var value) ? value as string : null;

    public static IApplicationBuilder UseCallerAccess(this IApplicationBuilder app, SchedulerOptions options)
    {
        var nodeCredentials = options.NodeCredentials
            .Where(c => !string.IsNullOrEmpty(c.Value))
            .Select(c => (Name: c.Key, Hash: SHA256.HashData(Encoding.UTF8.GetBytes(c.Value))))
            .ToArray();
        // Job tokens and node credentials first: they are checked here and limited to what a job or a node may do;
        // every other call needs the service token, through the same check every Drover service uses.
        app.Use(async (context, next) =>
        {
            var bearer = Security.BearerToken(context.Request);
            if (JobTokens.LooksLikeJobToken(bearer) && JobTokens.Verify(bearer, options.JobTokenKey) is { } job)
            {
                if (!await LiveAsync(job, context, options))
                {
                    await Refuse(context, StatusCodes.Status401Unauthorized, "Unauthorized",
                        $"This job token was issued to attempt {job.Attempt} of job {job.JobId}, which is no longer placed or running: a job token is valid only while its attempt runs.");
                    return;
                }
                if (!JobMayCall(context.Request))
                {
                    await Refuse(context, StatusCodes.Status403Forbidden, "Forbidden",
                        "A job token may only read jobs and events (GET /scheduler/jobs..., /scheduler/events) and submit jobs (POST /scheduler/jobs/new, /scheduler/jobs/batch, /scheduler/dags/new).");
                    return;
                }
                context.Items[CallerJobKey] = job;
            }
            else if (bearer is not null && NodeOf(bearer, nodeCredentials) is { } node)
            {
                if (!NodeMayCall(context.Request, node))
                {
                    await Refuse(context, StatusCodes.Status403Forbidden, "Forbidden",
                        $"The credential of node '{node}' may only send that node's heartbeat (POST /scheduler/nodes/heartbeat) and push its jobs (POST /scheduler/nodes/{node}/jobs).");
                    return;
                }
                context.Items[CallerNodeKey] = node;
            }
            await next(context);
        });
        return app.UseServiceToken(options.Token, admittedEarlier: context => context.CallerJob() is not null || context.CallerNode() is not null);
    }

    /// <summary>The attempt the token was issued to is placed or running, or stopped within the grace.</summary>
    private static async Task<bool> LiveAsync(JobTokenClaims job, HttpContext context, SchedulerOptions options)
    {
        var store = context.RequestServices.GetRequiredService<IJobStore>();
        var attempt = await store.GetAttemptAsync(job.JobId, job.Attempt, context.RequestAborted);
        if (attempt is null)
            return false;
        if (attempt.State is JobState.Placed or JobState.Running)
            return true;
        var now = context.RequestServices.GetRequiredService<TimeProvider>().GetUtcNow().ToUnixTimeMilliseconds();
        return attempt.FinishedAt is { } finished && now - finished <= (long)options.JobTokenGrace.TotalMilliseconds;
    }

    private static string? NodeOf(string bearer, (string Name, byte[] Hash)[] credentials)
    {
        var given = SHA256.HashData(Encoding.UTF8.GetBytes(bearer));
        string? found = null;
        // Every credential is compared, in constant time, so timing tells nothing about which one came close.
        foreach (var (name, hash) in credentials)
        {
            if (CryptographicOperations.FixedTimeEquals(given, hash))
                found = name;
        }
        return found;
    }

    private static Task Refuse(HttpContext context, int status, string title, string detail)
    {
        if (status == StatusCodes.Status401Unauthorized)
            context.Response.Headers.WWWAuthenticate = "Bearer";
        return Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(context);
    }

    private static bool JobMayCall(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method)
            && (request.Path.StartsWithSegments("/scheduler/jobs") || request.Path.StartsWithSegments("/scheduler/events")))
        || (HttpMethods.IsPost(request.Method)
            && (request.Path.Equals("/scheduler/jobs/new", StringComparison.OrdinalIgnoreCase) || request.Path.Equals("/scheduler/jobs/batch", StringComparison.OrdinalIgnoreCase)
                || request.Path.Equals("/scheduler/dags/new", StringComparison.OrdinalIgnoreCase)));

    // The path's node name must be the credential's own; the heartbeat's body is checked by its handler.
    private static bool NodeMayCall(HttpRequest request, string node) =>
        HttpMethods.IsPost(request.Method)
        && (request.Path.Equals(Contracts.NodeRoutes.Heartbeat, StringComparison.OrdinalIgnoreCase)
            || request.Path.Equals(Contracts.NodeRoutes.PushJobs.Replace("{name}", node, StringComparison.Ordinal), StringComparison.Ordinal));
}
