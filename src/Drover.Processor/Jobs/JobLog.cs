using System.Globalization;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Drover.Processor.Jobs;

/// <summary><c>GET /processor/jobs/{request_id}/log</c>: the log from a byte offset, and with <c>?follow=true</c> as it grows.</summary>
internal static class JobLog
{
    public static Results<PushStreamHttpResult, ValidationProblem, ProblemHttpResult> Get(
        [FromRoute(Name = "request_id")] string requestId, string? offset, string? follow, JobStore store, TimeProvider time,
        CancellationToken cancellationToken)
    {
        if (!store.TryGetRecorded(requestId, out var job))
            return NodeProblems.UnknownJob(requestId);
        long start = 0;
        if (offset is not null && (!long.TryParse(offset, NumberStyles.None, CultureInfo.InvariantCulture, out start)))
            return NodeProblems.Invalid("offset", "offset is a byte offset: a whole number, 0 or more");
        var following = false;
        if (follow is not null && !bool.TryParse(follow, out following))
            return NodeProblems.Invalid("follow", "follow is true or false");

        return TypedResults.Stream(body => following
            ? FollowAsync(job, start, body, time, cancellationToken)
            : CopyAsync(job, start, body, cancellationToken), "text/plain; charset=utf-8");
    }

    private static FileStream OpenLog(Job job, long start)
    {
        var file = new FileStream(job.LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, bufferSize: 0, FileOptions.Asynchronous);
        file.Seek(Math.Min(start, file.Length), SeekOrigin.Begin);
        return file;
    }

    private static async Task CopyAsync(Job job, long start, Stream body, CancellationToken cancellationToken)
    {
        await using var file = OpenLog(job, start);
        await file.CopyToAsync(body, cancellationToken);
    }

    /// <summary>
    /// Streams what is there, then waits to be woken (inotify on the log, or the job's stop) and streams what came
    /// since, flushing each chunk so that a client such as <c>curl -N</c> sees lines as they are written. The commands
    /// write the log themselves, so a file watch is what tells of new output; a slow timer covers a lost event.
    /// </summary>
    private static async Task FollowAsync(Job job, long start, Stream body, TimeProvider time, CancellationToken cancellationToken)
    {
        await using var file = OpenLog(job, start);
        var wake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var watcher = Watch(job, () => Volatile.Read(ref wake).TrySetResult());
        var reconcile = watcher is null ? TimeSpan.FromMilliseconds(200) : TimeSpan.FromSeconds(1);
        var buffer = new byte[64 * 1024];
        while (true)
        {
            // Arm the wake-up and note whether the job has stopped *before* draining: output written before the stop
            // is then surely read, and a write during the drain wakes the next wait at once.
            Volatile.Write(ref wake, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            var stopped = job.IsStopped;
            int read;
            while ((read = await file.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await body.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                await body.FlushAsync(cancellationToken);
            }
            if (stopped)
                return;
            await Task.WhenAny(Volatile.Read(ref wake).Task, job.Stopped, Task.Delay(reconcile, time, cancellationToken));
            cancellationToken.ThrowIfCancellationRequested();
        }
    }

    private static FileSystemWatcher? Watch(Job job, Action changed)
    {
        try
        {
            var watcher = new FileSystemWatcher(job.Directory, "log") { NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.Size };
            watcher.Changed += (_, _) => changed();
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception e) when (e is IOException or PlatformNotSupportedException)
        {
            return null; // out of inotify instances: the reconcile timer alone still gets there
        }
    }
}
