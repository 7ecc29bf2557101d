using System.Net.Http.Headers;

namespace Drover.Cli.Client;

/// <summary>
/// The HTTP client of commands that talk to a running Drover: <c>DROVER_URL</c> (the gateway, or the scheduler) and
/// <c>DROVER_TOKEN</c> (an API key, or the job token a running job gets) from the environment, as a job sees them.
/// </summary>
internal static class DroverClient
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static HttpClient Create(string? url = null, string? token = null)
    {
        url ??= Environment.GetEnvironmentVariable("DROVER_URL") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultUrl;
        token ??= Environment.GetEnvironmentVariable("DROVER_TOKEN");
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var baseAddress) || baseAddress.Scheme is not ("http" or "https"))
            throw new ArgumentException($"DROVER_URL must be an absolute http(s) URL, not '{url}'.", nameof(url));
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };
        if (!string.IsNullOrEmpty(token))
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
