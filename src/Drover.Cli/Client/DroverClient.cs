using System.Net.Http.Headers;

namespace Drover.Cli.Client;

/// <summary>
/// The HTTP client of commands that talk to a running Drover: <c>--url</c>, else <c>DROVER_URL</c> (the gateway, or the
/// scheduler), and <c>--token</c>, else <c>DROVER_TOKEN</c> (an API key, or the job token a running job gets), so that
/// inside a job the CLI needs no flags at all.
/// </summary>
internal static class DroverClient
{
    public const string DefaultUrl = "http://127.0.0.1:8080";

    public static HttpClient Create(string? url = null, string? token = null)
    {
        url ??= Environment.GetEnvironmentVariable("DROVER_URL") is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultUrl;
        token ??= Environment.GetEnvironmentVariable("DROVER_TOKEN");
        if (!Uri.TryCreate(url.TrimEnd('/') + "/", UriKind.Absolute, out var baseAddress) || baseAddress.Scheme is not ("http" or "https"))
            throw new ArgumentException($"the URL must be an absolute http(s) URL, not '{url}' (--url or DROVER_URL)", nameof(url));
        // No client-wide timeout: logs and events stream for as long as they run; each plain call sets its own.
        var client = new HttpClient { BaseAddress = baseAddress, Timeout = Timeout.InfiniteTimeSpan };
        client.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("drover", typeof(DroverClient).Assembly.GetName().Version?.ToString(3)));
        if (!string.IsNullOrEmpty(token))
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }
}
