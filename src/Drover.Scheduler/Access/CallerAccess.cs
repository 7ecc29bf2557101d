using Drover.ServiceDefaults;

namespace Drover.Scheduler.Access;

/// <summary>
/// Who may call: with <c>Scheduler:Token</c> set, callers (the gateway, nodes) send it as a bearer token. A job's
/// own token (<c>DROVER_TOKEN</c>, under <c>Scheduler:JobTokenKey</c>) is also accepted, but only to read jobs and
/// submit new ones; the calling job is kept on the request, so that a job it submits records it as its parent.
/// </summary>
internal static class CallerAccess
{
    private const string CallerJobKey = "drover.caller_job";

    /// <summary>The job whose token made this request, if any.</summary>
    public static long? CallerJob(this HttpContext context) =>
        context.Items.TryGetValue(CallerJobKey, out var value) && value is long id ? id : null;

    public static IApplicationBuilder UseCallerAccess(this IApplicationBuilder app, SchedulerOptions options)
    {
        // Job tokens first: they are checked here and limited to what a job may do; every other call needs the
        // service token, through the same check every Drover service uses.
        app.Use(async (context, next) =>
        {
            var bearer = Security.BearerToken(context.Request);
            if (JobTokens.LooksLikeJobToken(bearer) && JobTokens.Verify(bearer, options.JobTokenKey) is { } jobId)
            {
                if (!JobMayCall(context.Request))
                {
                    await Results.Problem(statusCode: StatusCodes.Status403Forbidden, title: "Forbidden",
                        detail: "A job token may only read jobs and events (GET /scheduler/jobs..., /scheduler/events) and submit jobs (POST /scheduler/jobs/new, /scheduler/dags/new).")
                        .ExecuteAsync(context);
                    return;
                }
                context.Items[CallerJobKey] = jobId;
            }
            await next(context);
        });
        return app.UseServiceToken(options.Token, admittedEarlier: context => context.CallerJob() is not null);
    }

    private static bool JobMayCall(HttpRequest request) =>
        (HttpMethods.IsGet(request.Method)
            && (request.Path.StartsWithSegments("/scheduler/jobs") || request.Path.StartsWithSegments("/scheduler/events")))
        || (HttpMethods.IsPost(request.Method)
            && (request.Path.Equals("/scheduler/jobs/new", StringComparison.Ordinal) || request.Path.Equals("/scheduler/dags/new", StringComparison.Ordinal)));
}
