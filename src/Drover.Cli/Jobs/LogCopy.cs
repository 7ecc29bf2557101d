using System.Text;
using Drover.Cli.Client;
using Drover.Cli.Terminal;
using Drover.Contracts;

namespace Drover.Cli.Jobs;

/// <summary>One piece of a log, as <c>logs --json</c> writes it: where it starts in the log, and its text.</summary>
internal sealed record LogChunk(long JobId, long Offset, string Text);

/// <summary>Copies a job's log to stdout as it comes: the bytes themselves, or with <c>--json</c> one <see cref="LogChunk"/> a line.</summary>
internal static class LogCopy
{
    // Not disposed: it is the process's stdout, written to for as long as the process lives.
    private static readonly Stream Stdout = Console.OpenStandardOutput();

    /// <summary>Copies from <paramref name="offset"/> and returns the offset after the last byte copied.</summary>
    public static async Task<long> CopyAsync(DroverApi api, long id, long offset, bool follow, bool json, CancellationToken cancellationToken)
    {
        using var response = await api.OpenLogAsync(id, offset, follow, cancellationToken);
        await using var log = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = new byte[16 * 1024];
        var decoder = Encoding.UTF8.GetDecoder();
        var chars = new char[Encoding.UTF8.GetMaxCharCount(buffer.Length)];
        int read;
        while ((read = await log.ReadAsync(buffer, cancellationToken)) > 0)
        {
            if (json)
            {
                var count = decoder.GetChars(buffer, 0, read, chars, 0);
                Output.WriteJsonLine(new LogChunk(id, offset, new string(chars, 0, count)));
            }
            else
            {
                await Stdout.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                await Stdout.FlushAsync(cancellationToken);
            }
            offset += read;
        }
        return offset;
    }

    /// <summary>
    /// Follows the job until it stops, attempt after attempt: a failed attempt's log ends, and when the job is placed
    /// again the next attempt's log follows from its start.
    /// </summary>
    public static async Task<JobStatusView> FollowAsync(DroverApi api, long id, bool json, CancellationToken cancellationToken)
    {
        var followed = 0;
        while (true)
        {
            var job = await api.GetStatusAsync(id, cancellationToken);
            if (job.State == JobState.Stopped && job.Attempts <= followed)
                return job;
            if (job.Attempts > followed || job.Attempts == 0)
            {
                if (followed > 0)
                    Output.Note($"drover: job {id}: attempt {job.Attempts}");
                await CopyAsync(api, id, 0, follow: true, json, cancellationToken);
                followed = Math.Max(job.Attempts, 1);
                continue;
            }
            // The attempt followed has ended and the job waits to be placed again (a retry's backoff).
            await Task.Delay(TimeSpan.FromMilliseconds(200), cancellationToken);
        }
    }
}
