using Drover.Gateway.Proxy;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.Gateway.Health;

/// <summary><c>GET /readyz</c>: the gateway can do its work, i.e. a scheduler answers its health check.</summary>
internal static class ReadinessApi
{
    public static IEndpointConventionBuilder MapReadinessApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/readyz", ReadyAsync)
            .WithTags("Health")
            .WithSummary("Readiness: a scheduler answers")
            .WithDescription("200 when at least one configured scheduler answers GET /healthz (which includes its store check); 503 problem+json otherwise.");

    private static async Task<Results<Ok<Readiness>, ProblemHttpResult>> ReadyAsync(
        IHttpClientFactory clients, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(NodeDirectory.SchedulerClient);
        var failures = new List<string>();
        foreach (var scheduler in options.Value.SchedulerUrls)
        {
            try
            {
                using var response = await client.GetAsync(new Uri(new Uri(scheduler), "/healthz"), cancellationToken);
                if (response.IsSuccessStatusCode)
                    return TypedResults.Ok(new Readiness("ready", scheduler));
                failures.Add($"{scheduler} answered {(int)response.StatusCode}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{scheduler}: {e.Message}");
            }
        }
        return TypedResults.Problem(
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Not ready",
            detail: "No scheduler answers its health check: " + string.Join("; ", failures));
    }

    internal sealed record Readiness(string Status, string Scheduler);
}
