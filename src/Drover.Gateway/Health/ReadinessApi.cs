using System.Net.Http.Headers;
using Drover.Gateway.Proxy;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Drover.Gateway.Health;

/// <summary><c>GET /readyz</c>: the gateway can do its work, i.e. a scheduler answers and so does its store.</summary>
internal static class ReadinessApi
{
    public static IEndpointConventionBuilder MapReadinessApi(this IEndpointRouteBuilder app) =>
        app.MapGet("/readyz", ReadyAsync)
            .WithTags("Health")
            .WithSummary("Readiness: a scheduler and its store answer")
            .WithDescription("200 when at least one configured scheduler answers GET /healthz and a one-job read of its store (GET /scheduler/jobs?limit=1); 503 problem+json otherwise.");

    private static async Task<Results<Ok<Readiness>, ProblemHttpResult>> ReadyAsync(
        IHttpClientFactory clients, IOptions<GatewayOptions> options, CancellationToken cancellationToken)
    {
        var client = clients.CreateClient(NodeDirectory.SchedulerClient);
        var failures = new List<string>();
        foreach (var scheduler in options.Value.SchedulerUrls)
        {
            try
            {
                // The scheduler's /healthz says the process lives; the list read is what proves its store answers.
                var failure = await FailureAsync(client, new Uri(new Uri(scheduler), "/healthz"), null, cancellationToken)
                    ?? await FailureAsync(client, new Uri(new Uri(scheduler), "/scheduler/jobs?limit=1"), options.Value.SchedulerToken, cancellationToken);
                if (failure is null)
                    return TypedResults.Ok(new Readiness("ready", scheduler));
                failures.Add($"{scheduler}: {failure}");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                failures.Add($"{scheduler}: {e.Message}");
            }
        }
        return TypedResults.Problem(
            statusCode: StatusCodes.Status503ServiceUnavailable,
            title: "Not ready",
            detail: "No scheduler answers with its store: " + string.Join("; ", failures));
    }

    private static async Task<string?> FailureAsync(HttpClient client, Uri uri, string? token, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, uri);
        if (token is { Length: > 0 })
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        return response.IsSuccessStatusCode ? null : $"{uri.AbsolutePath} answered {(int)response.StatusCode}";
    }

    internal sealed record Readiness(string Status, string Scheduler);
}
