using System.Collections.Concurrent;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.Processor.Storage;
using Drover.ServiceDefaults;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Jobs;

/// <summary>A job to record: its claimed in-memory entry, its spec, and the staging directory it is assembled in.</summary>
internal sealed record Publication(Job Job, NodeJobRequest Spec, string Staging, bool WithFiles);

/// <summary>Where the Processor last saw a command start, so that a restarted Processor can find it again.</summary>
internal sealed record ProcessRecord(int Command, int Pid, long StartTicks);

/// <summary>
/// The jobs of this node: an in-memory index (loaded once at start, so no request scans the disk) over the seed's
/// layout, <c>&lt;state&gt;/processor/job/&lt;request_id&gt;/{spec.json,status,log,exit_code,work/}</c>. Besides
/// those, a job directory holds <c>process</c> (the running command's pid) and <c>exit_code.N</c> (command N's exit
/// code, written by the supervisor that reaped it), and the state directory's <c>processor/</c> holds the supervisor's
/// socket, lock and log.
/// </summary>
internal sealed class JobStore
{
    private const string StagingPrefix = ".new-";
    private readonly ConcurrentDictionary<string, Job> _jobs = new(StringComparer.Ordinal);

    public JobStore(IOptions<ProcessorOptions> options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Root = Path.GetFullPath(Path.Combine(options.Value.StateDirectory, "processor", "job"));
    }

    public string Root { get; }

    public ICollection<Job> All => _jobs.Values;

    public bool TryGet(string id, [NotNullWhen(true)] out Job? job) => _jobs.TryGetValue(id, out job);

    /// <summary>A job that is on disk; one still being recorded does not exist yet for anyone but its twin request.</summary>
    public bool TryGetRecorded(string id, [NotNullWhen(true)] out Job? job) =>
        _jobs.TryGetValue(id, out job) && job.Recorded.IsCompletedSuccessfully;

    /// <summary>Claims the id in memory; exactly one of two racing requests for the same id wins, the other gets the winner.</summary>
    public Job GetOrAdd(Job job) => _jobs.GetOrAdd(job.Id, job);

    public void Forget(Job job) => _jobs.TryRemove(new KeyValuePair<string, Job>(job.Id, job));

    public string DirectoryOf(string id) => Path.Combine(Root, id);

    /// <summary>
    /// Forgets a stopped job and deletes its directory. Renamed first to a staging name, so that a crash halfway
    /// through the delete leaves nothing a restart would load as a job (it discards staging directories).
    /// </summary>
    public void Delete(Job job)
    {
        Forget(job);
        var gone = Path.Combine(Root, StagingPrefix + Guid.NewGuid().ToString("N"));
        Directory.Move(job.Directory, gone);
        Discard(gone);
    }

    /// <summary>
    /// A fresh directory beside the jobs, named so that it can never be a job (request ids cannot start with a dot).
    /// A job is assembled in it and then renamed into place in one step.
    /// </summary>
    public string CreateStaging()
    {
        var staging = Path.Combine(Root, StagingPrefix + Guid.NewGuid().ToString("N"));
        PrivateFiles.CreateDirectory(Path.Combine(staging, "work"));
        return staging;
    }

    public static void Discard(string? staging)
    {
        if (staging is null)
            return;
        try
        {
            Directory.Delete(staging, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    /// <summary>
    /// Records new jobs for good, all in one pass: every job's spec, status and log are written inside its staging
    /// directory, then all the files and staging directories are fsynced, then each staging directory is renamed to
    /// its job's name, and one fsync of the jobs' directory makes every rename durable. A batch thus costs one round
    /// of syncs rather than one per job (the file system commits its journal once for files synced back to back). A
    /// crash at any point leaves either no job or a whole one (left-over staging directories are removed at start).
    /// </summary>
    /// <returns>Per item, what kept it from being recorded; null for each job now on disk.</returns>
    public Exception?[] Publish(IReadOnlyList<Publication> items)
    {
        ArgumentNullException.ThrowIfNull(items);
        var errors = new Exception?[items.Count];
        var files = new List<FileStream>[items.Count];
        try
        {
            for (var i = 0; i < items.Count; i++)
            {
                var (job, spec, staging, withFiles) = items[i];
                files[i] = [];
                try
                {
                    // Uploaded files were fsynced as they arrived; their names are made durable here.
                    if (withFiles)
                        AtomicFile.SyncDirectory(Path.Combine(staging, "work"));
                    files[i].Add(WriteNew(Path.Combine(staging, "spec.json"), JsonSerializer.SerializeToUtf8Bytes(spec, DroverJson.Options)));
                    files[i].Add(WriteNew(Path.Combine(staging, "status"), JsonSerializer.SerializeToUtf8Bytes(job.Status, DroverJson.Options)));
                    new FileStream(Path.Combine(staging, "log"), PrivateFiles.NewFile()).Dispose();
                }
                catch (Exception e)
                {
                    errors[i] = e;
                }
            }
            for (var i = 0; i < items.Count; i++)
            {
                if (errors[i] is not null)
                    continue;
                try
                {
                    foreach (var file in files[i])
                        file.Flush(flushToDisk: true);
                    AtomicFile.SyncDirectory(items[i].Staging);
                }
                catch (Exception e)
                {
                    errors[i] = e;
                }
            }
        }
        finally
        {
            foreach (var list in files)
                foreach (var file in list ?? [])
                    file.Dispose();
        }

        var moved = new List<int>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            if (errors[i] is not null)
                continue;
            try
            {
                Directory.Move(items[i].Staging, items[i].Job.Directory);
                moved.Add(i);
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        }
        if (moved.Count == 0)
            return errors;
        try
        {
            AtomicFile.SyncDirectory(Root);
        }
        catch (IOException e)
        {
            // Not durable, so not accepted: take the jobs back out of place, so that a restart does not run jobs
            // whose callers were told nothing was recorded (a failed removal leaves them for the restart to run).
            foreach (var i in moved)
            {
                errors[i] = e;
                try
                {
                    var gone = Path.Combine(Root, StagingPrefix + Guid.NewGuid().ToString("N"));
                    Directory.Move(items[i].Job.Directory, gone);
                    Discard(gone);
                }
                catch (IOException)
                {
                }
            }
        }
        return errors;
    }

    /// <summary>Writes a new file and leaves it open, unsynced, for <see cref="Publish"/> to sync with the others.</summary>
    private static FileStream WriteNew(string path, byte[] bytes)
    {
        var file = new FileStream(path, PrivateFiles.NewFile());
        try
        {
            file.Write(bytes);
            return file;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Saves a status change; the caller holds <see cref="Job.Gate"/> so that saves of one job never overtake each other.</summary>
    public static void SaveStatus(Job job, NodeJobStatus status, bool durable)
    {
        AtomicFile.Write(Path.Combine(job.Directory, "status"), JsonSerializer.SerializeToUtf8Bytes(status, DroverJson.Options), durable);
        job.SetStatus(status);
    }

    // Not synced on its own: the status written (and synced) right after it carries the same exit code.
    public static void SaveExitCode(Job job, int exitCode) =>
        AtomicFile.Write(Path.Combine(job.Directory, "exit_code"), System.Text.Encoding.ASCII.GetBytes(exitCode.ToString(CultureInfo.InvariantCulture) + "\n"), durable: false);

    // Not synced: after a power cut no process survives, so a lost record only loses what could not be re-attached anyway.
    public static void SaveProcess(Job job, ProcessRecord record) =>
        AtomicFile.Write(Path.Combine(job.Directory, "process"), JsonSerializer.SerializeToUtf8Bytes(record, DroverJson.Options), durable: false);

    public static ProcessRecord? ReadProcess(Job job)
    {
        try
        {
            return JsonSerializer.Deserialize<ProcessRecord>(File.ReadAllBytes(Path.Combine(job.Directory, "process")), DroverJson.Options);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    public static string ExitCodePath(Job job, int command) =>
        Path.Combine(job.Directory, "exit_code." + command.ToString(CultureInfo.InvariantCulture));

    /// <summary>Reads the state directory back into memory. Returns the jobs that were not stopped, for the runner to deal with.</summary>
    public List<Job> Load(Action<string, Exception> unreadable)
    {
        ArgumentNullException.ThrowIfNull(unreadable);
        // The jobs' specs hold their environment and tokens: the state directory is the node's user's alone. An
        // existing directory given as the state directory keeps its mode; what the Processor made under it does not.
        PrivateFiles.CreateDirectory(Root);
        PrivateFiles.Restrict(Path.GetDirectoryName(Root)!);
        PrivateFiles.Restrict(Root);
        var unfinished = new List<Job>();
        foreach (var directory in Directory.EnumerateDirectories(Root))
        {
            var id = Path.GetFileName(directory);
            if (id.StartsWith(StagingPrefix, StringComparison.Ordinal))
            {
                // A job that was being recorded when the Processor died: it was never answered 201, so it never existed.
                Discard(directory);
                continue;
            }
            if (!JobRules.IsSafeName(id))
                continue;
            try
            {
                var status = JsonSerializer.Deserialize<NodeJobStatus>(File.ReadAllBytes(Path.Combine(directory, "status")), DroverJson.Options)
                    ?? throw new JsonException("empty status");
                NodeJobRequest? spec = null;
                if (status.State != JobState.Stopped)
                {
                    spec = JsonSerializer.Deserialize<NodeJobRequest>(File.ReadAllBytes(Path.Combine(directory, "spec.json")), DroverJson.Options)
                        ?? throw new JsonException("empty spec");
                }
                var job = new Job(id, directory, spec, status with { RequestId = id });
                job.MarkRecorded();
                if (status.State == JobState.Stopped)
                    job.MarkStopped();
                else
                    unfinished.Add(job);
                _jobs[id] = job;
            }
            catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
            {
                unreadable(directory, e);
            }
        }
        return unfinished;
    }
}
