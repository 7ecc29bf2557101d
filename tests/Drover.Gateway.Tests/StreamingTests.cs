using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace Drover.Gateway.Tests;

[Collection(TrioGroup.Name)]
public sealed partial class StreamingTests(Trio trio, ITestOutputHelper output)
{
    private const long UploadSize = 50L << 20;

    [Fact]
    public async Task A_50_MiB_upload_reaches_the_jobs_working_directory_without_growing_the_gateway_by_its_size()
    {
        // The gateway runs alone in a child process, so that its memory is measured and nothing else's.
        await using var gateway = await GatewayProcess.StartAsync(trio.GatewayArgs());
        using var admin = trio.Client(Trio.AdminKey, gateway.Url);

        // Warm up first: JIT, connection pools and buffers are not what is measured.
        var warmup = await UploadAsync(admin, "warmup.bin", 1 << 20);
        await Trio.WaitForStateAsync(admin, warmup, "stopped");

        var before = gateway.ResidentBytes();
        gateway.ResetPeak();
        var id = await UploadAsync(admin, "data.bin", UploadSize);
        var peak = gateway.PeakResidentBytes();
        var growth = peak - before;
        output.WriteLine($"gateway resident before: {before >> 20} MiB, peak during the upload: {peak >> 20} MiB");
        Assert.True(growth < UploadSize / 2,
            $"the gateway grew by {growth >> 20} MiB (from {before >> 20} MiB to a peak of {peak >> 20} MiB) for a {UploadSize >> 20} MiB upload");

        var status = await Trio.WaitForStateAsync(admin, id, "stopped", seconds: 120);
        Assert.Equal("good", status.GetProperty("status").GetString());
        using var log = await admin.GetAsync($"/scheduler/jobs/{id}/log");
        Assert.Contains($"{UploadSize} data.bin", await log.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        var onNode = Directory.EnumerateFiles(trio.StateDirectory, "data.bin", SearchOption.AllDirectories).ToList();
        Assert.Contains(onNode, f => new FileInfo(f).Length == UploadSize && f.Contains($"{Path.DirectorySeparatorChar}work{Path.DirectorySeparatorChar}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Log_follow_through_the_gateway_shows_lines_as_they_come()
    {
        using var admin = trio.Client(Trio.AdminKey);
        var release = Path.Combine(trio.Root, "release-" + Guid.NewGuid().ToString("N"));
        // timeout_seconds: should the test fail before releasing it, the job does not wait forever.
        var id = await Trio.SubmitAsync(admin, $$"""
            {"commands": [{"shell": "echo first; while [ ! -e '{{release}}' ]; do sleep 0.1; done; echo second"}], "timeout_seconds": 120}
            """);
        try
        {
            await Trio.WaitForStateAsync(admin, id, "running");

            using var request = new HttpRequestMessage(HttpMethod.Get, $"/scheduler/jobs/{id}/log?follow=true");
            using var response = await admin.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

            // The job is still waiting for the release file, so "first" can only have come as it was written.
            Assert.Equal("first", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.False(File.Exists(release));
            await File.WriteAllTextAsync(release, "");
            Assert.Equal("second", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            // The stream ends when the job does.
            Assert.Null(await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            await File.WriteAllTextAsync(release, "");
        }
    }

    private static async Task<long> UploadAsync(HttpClient client, string name, long size)
    {
        var path = Path.Combine(Path.GetTempPath(), $"drover-upload-{Guid.NewGuid():N}");
        try
        {
            await using (var file = File.Create(path))
                file.SetLength(size);
            await using var stream = File.OpenRead(path);
            using var form = new MultipartFormDataContent
            {
                { new StringContent($"wc -c {name}"), "command" },
                { new StreamContent(stream, 1 << 16), "file", name },
            };
            using var response = await client.PostAsync("/scheduler/jobs/new", form);
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.Accepted, $"{(int)response.StatusCode}: {body}");
            return System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>The built gateway (<c>dotnet Drover.Gateway.dll</c>) as a child process, with its memory readable from /proc.</summary>
    private sealed partial class GatewayProcess : IAsyncDisposable
    {
        private readonly Process _process;

        private GatewayProcess(Process process, Uri url) => (_process, Url) = (process, url);

        public Uri Url { get; }

        public static async Task<GatewayProcess> StartAsync(string[] args)
        {
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Drover.Gateway.dll"));
            foreach (var arg in args)
                start.ArgumentList.Add(arg);
            var process = Process.Start(start)!;
            var output = new StringBuilder();
            var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                    return;
                lock (output)
                    output.AppendLine(e.Data);
                if (Listening().Match(e.Data) is { Success: true } match)
                    listening.TrySetResult(new Uri(match.Groups[1].Value));
            };
            process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            try
            {
                return new GatewayProcess(process, await listening.Task.WaitAsync(TimeSpan.FromSeconds(60)));
            }
            catch (TimeoutException)
            {
                process.Kill(entireProcessTree: true);
                lock (output)
                    throw new TimeoutException("the gateway did not start: " + output);
            }
        }

        [GeneratedRegex(@"Now listening on: (http://\S+)")]
        private static partial Regex Listening();

        public long ResidentBytes() => StatusField("VmRSS");

        public long PeakResidentBytes() => StatusField("VmHWM");

        /// <summary>Resets the kernel's peak resident size (VmHWM) for this process.</summary>
        public void ResetPeak() => File.WriteAllText($"/proc/{_process.Id}/clear_refs", "5");

        private long StatusField(string name)
        {
            var line = File.ReadLines($"/proc/{_process.Id}/status").First(l => l.StartsWith(name + ":", StringComparison.Ordinal));
            return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
                _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
            _process.Dispose();
        }
    }
}
