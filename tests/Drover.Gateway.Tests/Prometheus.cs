using System.Diagnostics;
using System.Globalization;
using System.Text.Json;

namespace Drover.Gateway.Tests;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c>, which <c>scripts/test</c> installs) on a free loopback port, with a
/// generated configuration and its storage in a temporary folder, scraping every second.
/// </summary>
internal sealed class Prometheus : IAsyncDisposable
{
    private static readonly string[] Binaries = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"];

    private readonly Process _process;
    private readonly string _root;
    private readonly HttpClient _client;

    private Prometheus(Process process, string root, Uri url)
    {
        _process = process;
        _root = root;
        _client = new HttpClient { BaseAddress = url, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>One scrape job: <paramref name="Target"/> is <c>host:port</c>.</summary>
    public sealed record Job(string Name, string Target, string Path, string BearerToken);

    public static async Task<Prometheus> StartAsync(IReadOnlyList<Job> jobs)
    {
        var binary = Binaries.FirstOrDefault(File.Exists);
        Assert.True(binary is not null, "prometheus is not installed: scripts/test installs it (apt-get install prometheus)");
        var root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-prometheus", Guid.NewGuid().ToString("N"))).FullName;
        var config = Path.Combine(root, "prometheus.yml");
        // JSON is YAML: the configuration is written with the serializer, so no value needs quoting by hand.
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new Dictionary<string, object>
        {
            ["global"] = new Dictionary<string, string> { ["scrape_interval"] = "1s", ["scrape_timeout"] = "1s" },
            ["scrape_configs"] = jobs.Select(j => new Dictionary<string, object>
            {
                ["job_name"] = j.Name,
                ["metrics_path"] = j.Path,
                ["authorization"] = new Dictionary<string, string> { ["credentials"] = j.BearerToken },
                ["static_configs"] = new[] { new Dictionary<string, string[]> { ["targets"] = [j.Target] } },
            }).ToList(),
        }));
        var port = Trio.ClosedPort();
        var start = new ProcessStartInfo(binary!)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(root, "data")}",
            $"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
            start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var prometheus = new Prometheus(process, root, new Uri($"http://127.0.0.1:{port}/"));
        await prometheus.WaitReadyAsync();
        return prometheus;
    }

    private async Task WaitReadyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            Assert.False(_process.HasExited, $"prometheus exited with {(_process.HasExited ? _process.ExitCode : 0)}");
            try
            {
                using var response = await _client.GetAsync("-/ready");
                if (response.IsSuccessStatusCode)
                    return;
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            Assert.True(DateTime.UtcNow < deadline, "prometheus did not become ready in 60 s");
            await Task.Delay(200);
        }
    }

    /// <summary>An instant query through the HTTP API: each series' labels and value.</summary>
    public async Task<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>> QueryAsync(string query)
    {
        using var response = await _client.GetAsync("api/v1/query?query=" + Uri.EscapeDataString(query));
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {body}");
        using var document = JsonDocument.Parse(body);
        return document.RootElement.GetProperty("data").GetProperty("result").EnumerateArray()
            .Select(r => (
                r.GetProperty("metric").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? ""),
                double.Parse(r.GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture)))
            .ToList();
    }

    /// <summary>Queries until <paramref name="done"/> holds for the answer (scrapes come once a second).</summary>
    public async Task<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>> WaitForAsync(
        string query, Func<IReadOnlyList<(Dictionary<string, string> Labels, double Value)>, bool> done, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (true)
        {
            var result = await QueryAsync(query);
            if (done(result))
                return result;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"'{query}' still answers {JsonSerializer.Serialize(result.Select(r => new { r.Labels, r.Value }))} after {seconds} s");
            await Task.Delay(250);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // the system cleans its temp folder later
        }
    }
}
