using System.Security.Claims;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;

namespace Drover.Gateway.Auth;

/// <summary>
/// What each role may do, decided on the method and the path the caller asked for. Matching is case-insensitive
/// because the services' routing is, so a rule can never be dodged by spelling a path in capitals.
/// </summary>
public static class GatewayRoles
{
    public const string Read = "read";
    public const string Submit = "submit";
    public const string Admin = "admin";

    /// <summary>A running job's token: it may submit jobs and read jobs (and their events), nothing else.</summary>
    public const string Job = "job";

    public const string AccessPolicy = "gateway-access";

    public static bool TryParseKeyRole(string? text, out string role)
    {
        role = text?.Trim().ToLowerInvariant() switch
        {
            Read => Read,
            Submit => Submit,
            Admin => Admin,
            _ => "",
        };
        return role.Length > 0;
    }

    public static bool Allows(string role, string method, PathString path) => role switch
    {
        Admin => true,
        Submit => IsRead(method) && (Under(path, "/scheduler") || IsMetrics(path)) || HttpMethods.IsPost(method) && (IsSubmission(path) || IsJobAction(path)),
        // Metrics (the gateway's, and each service's through its routes) are for anyone who may read: a scraper's key.
        Read => IsRead(method) && (Under(path, "/scheduler") || IsMetrics(path)),
        // A job may also follow the event stream, to wait on the jobs it started as they end.
        Job => HttpMethods.IsPost(method) && IsSubmission(path)
            || IsRead(method) && (Under(path, "/scheduler/jobs") || Is(path, "/scheduler/events")),
        _ => false,
    };

    private static bool IsRead(string method) => HttpMethods.IsGet(method) || HttpMethods.IsHead(method);

    private static bool Under(PathString path, string prefix) =>
        path.StartsWithSegments(prefix, StringComparison.OrdinalIgnoreCase);

    // GET /metrics, /processor/metrics, /nodes/{name}/processor/metrics (and /scheduler/metrics, under /scheduler).
    private static bool IsMetrics(PathString path)
    {
        var s = (path.Value ?? "").Trim('/').Split('/');
        return s switch
        {
            [var m] => Same(m, "metrics"),
            [var p, var m] => Same(p, "processor") && Same(m, "metrics"),
            [var n, var name, var p, var m] => Same(n, "nodes") && name.Length > 0 && Same(p, "processor") && Same(m, "metrics"),
            _ => false,
        };
    }

    private static bool IsSubmission(PathString path) =>
        Is(path, "/scheduler/jobs/new") || Is(path, "/scheduler/jobs/batch") || Is(path, "/scheduler/dags/new");

    // POST /scheduler/jobs/{id}/update|kill|retry
    private static bool IsJobAction(PathString path)
    {
        var s = (path.Value ?? "").Trim('/').Split('/');
        return s.Length == 4
            && Same(s[0], "scheduler") && Same(s[1], "jobs") && s[2].Length > 0 && !Same(s[2], "new")
            && (Same(s[3], "update") || Same(s[3], "kill") || Same(s[3], "retry"));
    }

    private static bool Same(string a, string b) => a.Equals(b, StringComparison.OrdinalIgnoreCase);

    private static bool Is(PathString path, string exact) =>
        string.Equals(path.Value?.TrimEnd('/'), exact, StringComparison.OrdinalIgnoreCase);

    public static string? RoleOf(ClaimsPrincipal user) => user.FindFirst(ClaimTypes.Role)?.Value;
}

/// <summary>The one requirement on every proxied route: the caller's role allows this method on this path.</summary>
internal sealed class RouteAccessRequirement : AuthorizationHandler<RouteAccessRequirement>, IAuthorizationRequirement
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, RouteAccessRequirement requirement)
    {
        if (context.Resource is HttpContext http
            && GatewayRoles.RoleOf(context.User) is { } role
            && GatewayRoles.Allows(role, http.Request.Method, http.Request.Path))
        {
            context.Succeed(requirement);
        }
        return Task.CompletedTask;
    }
}
