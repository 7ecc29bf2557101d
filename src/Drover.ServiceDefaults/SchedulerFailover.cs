using System.Net.Http.Json;
using Drover.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Polly;

namespace Drover.ServiceDefaults;

/// <summary>
/// A node's calls to its schedulers (heartbeats, pushes), sent to whichever scheduler answers. Several schedulers
/// over one database are one service, so any of them may take a node's call: the node stays with the last one that
/// answered, and on a failure (no connection, a timeout, a 5xx) tries the next one within the same call, so a dead
/// scheduler costs one failed attempt. An answer below 500 ends the call: a 4xx would be the same everywhere.
/// Only for calls that state facts (idempotent), since one that timed out may still have arrived.
/// </summary>
public sealed class SchedulerFailover
{
    // Passes over the whole list before a call gives up, with a pause between (a scheduler that restarts comes back
    // within a few seconds). This is the calls' only retry: the HTTP client's own retries are switched off.
    private const int Rounds = 3;
    private static readonly TimeSpan FirstPause = TimeSpan.FromSeconds(1);

    private readonly Uri[] _schedulers;
    private readonly TimeProvider _time;
    private int _current;
    private long _lastReached;

    /// <param name="schedulers">Base addresses; a path they carry (<c>http://gw/drover/</c>) is kept.</param>
    public SchedulerFailover(IEnumerable<Uri> schedulers, TimeProvider time)
    {
        _schedulers = schedulers.Select(WithTrailingSlash).ToArray();
        _time = time;
        _lastReached = time.GetUtcNow().ToUnixTimeMilliseconds();
    }

    public IReadOnlyList<Uri> Schedulers => _schedulers;

    /// <summary>The scheduler the next call goes to first: the last one that answered.</summary>
    public Uri Current => _schedulers[Volatile.Read(ref _current)];

    /// <summary>When a call last succeeded at any scheduler (the creation of this object before any did).</summary>
    public DateTimeOffset LastReached => DateTimeOffset.FromUnixTimeMilliseconds(Interlocked.Read(ref _lastReached));

    /// <summary>
    /// Posts <paramref name="body"/> as JSON to <paramref name="route"/> at the first scheduler that answers and
    /// throws unless that answer is a success. Throws <see cref="HttpRequestException"/> naming every failure when none answers.
    /// </summary>
    public async Task PostAsJsonAsync<T>(HttpClient client, string route, T body, CancellationToken cancellationToken)
    {
        if (_schedulers.Length == 0)
            throw new InvalidOperationException("No scheduler is configured.");
        var relative = new Uri(route.TrimStart('/'), UriKind.Relative);
        var failures = new List<string>();
        for (var round = 0; round < Rounds; round++)
        {
            if (round > 0)
                await Task.Delay(FirstPause * (1 << (round - 1)), _time, cancellationToken);
            var first = Volatile.Read(ref _current);
            for (var i = 0; i < _schedulers.Length; i++)
            {
                var index = (first + i) % _schedulers.Length;
                var scheduler = _schedulers[index];
                HttpResponseMessage response;
                try
                {
                    response = await client.PostAsJsonAsync(new Uri(scheduler, relative), body, DroverJson.Options, cancellationToken);
                }
                catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
                {
                    failures.Add($"{scheduler}: {e.Message}");
                    continue;
                }
                using (response)
                {
                    if ((int)response.StatusCode >= 500)
                    {
                        failures.Add($"{scheduler} answered {(int)response.StatusCode}");
                        continue;
                    }
                    Volatile.Write(ref _current, index);
                    response.EnsureSuccessStatusCode();
                    Interlocked.Exchange(ref _lastReached, _time.GetUtcNow().ToUnixTimeMilliseconds());
                    return;
                }
            }
        }
        throw new HttpRequestException($"No scheduler answered: {string.Join("; ", failures.Distinct(StringComparer.Ordinal))}");
    }

    // A trailing slash, so that relative calls keep a path the scheduler's URL may carry (http://gw/drover/).
    private static Uri WithTrailingSlash(Uri url) => url.AbsoluteUri.EndsWith('/') ? url : new Uri(url.AbsoluteUri + "/");
}

public static class SchedulerFailoverExtensions
{
    /// <summary>
    /// The HTTP client under <see cref="SchedulerFailover"/>: the standard timeouts, a circuit breaker per scheduler (so that
    /// one dead scheduler does not open it for the others), and no retries of its own, since the failover retries.
    /// </summary>
    public static IHttpClientBuilder AddSchedulerFailoverResilience(this IHttpClientBuilder builder)
    {
        builder.AddStandardResilienceHandler(resilience => resilience.Retry.ShouldHandle = static _ => PredicateResult.False())
            .SelectPipelineByAuthority();
        return builder;
    }
}

/// <summary>
/// The settings <c>&lt;Section&gt;:SchedulerUrl</c> (one scheduler) and <c>&lt;Section&gt;:SchedulerUrls</c> (a list, or one
/// value separated by <c>;</c>), as the Processor and the ECS node read them.
/// </summary>
public static class SchedulerUrlSettings
{
    /// <summary>Splits <c>&lt;section&gt;:SchedulerUrls=http://a;http://b</c>, which the binder leaves out of a list.</summary>
    public static void AddJoined(IConfiguration configuration, string section, IList<string> urls)
    {
        if (urls.Count > 0 || configuration[$"{section}:SchedulerUrls"] is not { Length: > 0 } joined)
            return;
        foreach (var url in joined.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            urls.Add(url);
    }

    /// <summary>The schedulers in order: the one URL, or the list's valid entries.</summary>
    public static IReadOnlyList<Uri> Resolve(Uri? one, IEnumerable<string> many) =>
        one is not null ? [one] : [.. many.Select(u => IsHttp(u, out var uri) ? uri : null).OfType<Uri>()];

    public static IEnumerable<string> Problems(string section, Uri? one, IReadOnlyCollection<string> many)
    {
        if (one is not null && many.Count > 0)
            yield return $"{section}:SchedulerUrl and {section}:SchedulerUrls are both set: use SchedulerUrls alone (SchedulerUrl is the shortcut for one scheduler).";
        if (one is not null && !IsHttp(one.OriginalString, out _))
            yield return $"{section}:SchedulerUrl must be an absolute http(s) uri.";
        foreach (var url in many)
        {
            if (!IsHttp(url, out _))
                yield return $"{section}:SchedulerUrls: '{url}' is not an absolute http(s) uri.";
        }
    }

    private static bool IsHttp(string url, out Uri uri) =>
        Uri.TryCreate(url, UriKind.Absolute, out uri!) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps);
}
