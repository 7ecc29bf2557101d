using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Drover.Processor.Jobs;

/// <summary>
/// <c>POST /processor/jobs/new</c>, the hot path of the whole system: read and check the job, claim its id in
/// memory, record it on disk, start it. Nothing is written for a request that is refused.
/// </summary>
internal static class JobSubmission
{
    private sealed record Parsed(NodeJobRequest? Spec, ValidationProblem? Problem, bool WithFiles);

    public static async Task<Results<Created<NodeJobStatus>, Ok<NodeJobStatus>, ValidationProblem, ProblemHttpResult>> SubmitAsync(
        HttpContext context, JobStore store, SlotGate slots, JobRunner runner, IOptions<ProcessorOptions> options, TimeProvider time,
        CancellationToken cancellationToken)
    {
        var request = context.Request;
        var limit = options.Value.MaxRequestBodySize;
        if (request.ContentLength > limit)
            return NodeProblems.TooLarge(limit);

        string? staging = null; // uploads land here first; it becomes the job's directory, or is deleted
        try
        {
            Parsed parsed;
            var contentType = request.ContentType;
            if (contentType is null || IsJson(contentType))
                parsed = await ReadJsonAsync(request.Body, cancellationToken);
            else if (contentType.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
                parsed = await ReadMultipartAsync(request, store, s => staging = s, cancellationToken);
            else
                return NodeProblems.UnsupportedMediaType($"'{contentType}' is neither application/json nor multipart/form-data");
            if (parsed.Problem is not null)
                return parsed.Problem;

            var spec = parsed.Spec!;
            var problems = JobRules.Check(spec);
            if (problems.Count > 0)
                return NodeProblems.Invalid(problems);
            var id = spec.RequestId ?? Guid.CreateVersion7().ToString("N");
            spec = spec with { RequestId = id };

            if (store.TryGet(id, out var existing))
                return await ExistingAsync(existing);
            if (!slots.TryReserve())
            {
                context.Response.Headers.RetryAfter = "1";
                return NodeProblems.SlotsFull(slots.Capacity);
            }
            // The job holds a slot and the runner starts it at once, so it is recorded as running from the start: the
            // fsync that makes the accept durable also stands for "started", so a restart never runs it again, and
            // the 201 tells the scheduler it runs. (A Processor that dies before the first command starts reports
            // the job node_restarted, not queued.)
            var now = time.GetUtcNow();
            var job = new Job(id, store.DirectoryOf(id), spec,
                new NodeJobStatus { RequestId = id, State = JobState.Running, Status = JobStatus.Unknown, CreatedAt = now, StartedAt = now });
            // Two identical requests racing: exactly one claims the id and records the job; the other waits for that.
            var winner = store.GetOrAdd(job);
            if (winner != job)
            {
                slots.Release();
                return await ExistingAsync(winner);
            }
            try
            {
                staging ??= store.CreateStaging();
                store.Publish(job, spec, staging, parsed.WithFiles);
                staging = null;
            }
            catch (Exception e)
            {
                store.Forget(job);
                slots.Release();
                job.FailRecording(e);
                throw;
            }
            job.MarkRecorded();
            runner.Start(job);
            return TypedResults.Created($"{request.PathBase}/processor/jobs/{id}/status", job.Status);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return NodeProblems.TooLarge(limit);
        }
        catch (IOException e) when (e is not FileNotFoundException and not DirectoryNotFoundException && !cancellationToken.IsCancellationRequested)
        {
            // The state directory is full or failing: the staging directory goes (finally, below), so nothing was recorded
            // and the caller may place the job elsewhere.
            context.Response.Headers.RetryAfter = "5";
            return NodeProblems.CannotRecord(e);
        }
        finally
        {
            JobStore.Discard(staging);
        }
    }

    private static async Task<Ok<NodeJobStatus>> ExistingAsync(Job job)
    {
        await job.Recorded;
        return TypedResults.Ok(job.Status);
    }

    private static bool IsJson(string contentType) =>
        contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase)
        || (MediaTypeHeaderValue.TryParse(contentType, out var media) && media.Suffix.Equals("json", StringComparison.OrdinalIgnoreCase));

    private static async Task<Parsed> ReadJsonAsync(Stream body, CancellationToken cancellationToken)
    {
        try
        {
            var spec = await JsonSerializer.DeserializeAsync<NodeJobRequest>(body, DroverJson.Options, cancellationToken);
            return spec is null
                ? new Parsed(null, NodeProblems.Invalid("body", "the body must be a JSON object"), false)
                : new Parsed(spec, null, false);
        }
        catch (JsonException e)
        {
            return new Parsed(null, (ValidationProblem)Extensions.BadJson(e), false);
        }
    }

    /// <summary>
    /// The job's JSON in a part named <c>spec</c>, and file parts streamed straight into the staging directory's
    /// <c>work/</c> under their (checked) file names: an upload is never held in memory.
    /// </summary>
    private static async Task<Parsed> ReadMultipartAsync(HttpRequest request, JobStore store, Action<string> staged, CancellationToken cancellationToken)
    {
        var boundary = MediaTypeHeaderValue.TryParse(request.ContentType, out var media) ? HeaderUtilities.RemoveQuotes(media.Boundary).Value : null;
        if (string.IsNullOrEmpty(boundary))
            return new Parsed(null, NodeProblems.Invalid("Content-Type", "multipart/form-data needs a boundary"), false);

        var reader = new MultipartReader(boundary, request.Body);
        NodeJobRequest? spec = null;
        string? work = null;
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (await reader.ReadNextSectionAsync(cancellationToken) is { } section)
        {
            if (!ContentDispositionHeaderValue.TryParse(section.ContentDisposition, out var disposition)
                || !disposition.DispositionType.Equals("form-data", StringComparison.OrdinalIgnoreCase))
                return new Parsed(null, NodeProblems.Invalid("body", "every part needs 'Content-Disposition: form-data; name=...'"), false);
            var name = HeaderUtilities.RemoveQuotes(disposition.Name).Value ?? "";
            if (name == "spec")
            {
                // `curl -F spec=@job.json` sends the spec as a file part; it is still the spec.
                if (spec is not null)
                    return new Parsed(null, NodeProblems.Invalid("spec", "only one 'spec' part is allowed"), false);
                var read = await ReadJsonAsync(section.Body, cancellationToken);
                if (read.Problem is not null)
                    return read;
                spec = read.Spec;
            }
            else if (disposition.IsFileDisposition())
            {
                var fileName = HeaderUtilities.RemoveQuotes(disposition.FileNameStar.HasValue ? disposition.FileNameStar : disposition.FileName).Value;
                if (JobRules.CheckFileName(fileName) is { } bad)
                    return new Parsed(null, NodeProblems.Invalid("files", bad), false);
                if (!names.Add(fileName!))
                    return new Parsed(null, NodeProblems.Invalid("files", $"file name '{fileName}' is given twice"), false);
                if (work is null)
                {
                    var staging = store.CreateStaging();
                    staged(staging);
                    work = Path.Combine(staging, "work");
                }
                await using var file = new FileStream(Path.Combine(work, fileName!), PrivateFiles.NewFile(options: FileOptions.Asynchronous));
                await section.Body.CopyToAsync(file, cancellationToken);
                file.Flush(flushToDisk: true);
            }
            else
            {
                return new Parsed(null, NodeProblems.Invalid(name.Length > 0 ? name : "body",
                    $"unknown form field '{name}': send the job's JSON as 'spec' and files as file parts"), false);
            }
        }
        return spec is null
            ? new Parsed(null, NodeProblems.Invalid("spec", "a multipart job needs a part named 'spec' holding the job's JSON"), false)
            : new Parsed(spec, null, work is not null);
    }
}
