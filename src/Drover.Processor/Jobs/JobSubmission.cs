using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Drover.Processor.Jobs;

/// <summary>
/// <c>POST /processor/jobs/new</c>, the hot path of the whole system: read and check the job, claim its id in
/// memory, record it on disk, start it. Nothing is written for a request that is refused. A JSON array is a batch
/// (feature <c>batch_start</c>): each item is checked, claimed and answered on its own, exactly as if it had come
/// alone, but all the accepted ones are recorded in one pass of fsyncs, and the answer comes once all are on disk.
/// </summary>
internal static class JobSubmission
{
    private sealed record Parsed(NodeJobRequest? Spec, IResult? Problem, bool WithFiles);

    /// <summary>One job of a call on its way through: what it asked for, and what came of it.</summary>
    private sealed class Item(NodeJobRequest? spec, IResult? problem, string? staging = null, bool withFiles = false)
    {
        public NodeJobRequest? Spec { get; set; } = spec;
        public IResult? Problem { get; set; } = problem; // a ValidationProblem or a ProblemHttpResult
        public string? Staging { get; set; } = staging;
        public bool WithFiles { get; } = withFiles;
        public Job? Claimed { get; set; }
        public Job? Existing { get; set; }
        public Exception? Failure { get; set; }
        public string? RetryAfter { get; set; }
    }

    public static async Task<Results<Created<NodeJobStatus>, Ok<NodeJobStatus>, Ok<NodeStartAnswer[]>, ValidationProblem, ProblemHttpResult>> SubmitAsync(
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
            {
                var body = await ReadBodyAsync(request, cancellationToken);
                if (StartsArray(body.Span))
                    return await SubmitBatchAsync(body, store, slots, runner, time);
                parsed = ReadJson(body.Span);
            }
            else if (contentType.StartsWith("multipart/form-data", StringComparison.OrdinalIgnoreCase))
            {
                parsed = await ReadMultipartAsync(request, store, s => staging = s, cancellationToken);
            }
            else
            {
                return NodeProblems.UnsupportedMediaType($"'{contentType}' is neither application/json nor multipart/form-data");
            }
            var item = new Item(parsed.Spec, parsed.Problem, staging, parsed.WithFiles);
            await AdmitAsync([item], store, slots, runner, time);
            if (item.RetryAfter is { } retry)
                context.Response.Headers.RetryAfter = retry;
            return item switch
            {
                { Claimed: { } job } => TypedResults.Created($"{request.PathBase}/processor/jobs/{job.Id}/status", job.Status),
                { Existing: { } job } => TypedResults.Ok(job.Status),
                { Problem: ValidationProblem problem } => problem,
                { Problem: ProblemHttpResult problem } => problem,
                // Not a refusal of the job but a fault of this node: a 500, as any other unexpected error.
                { Failure: { } failure } => throw new InvalidOperationException($"job {item.Spec?.RequestId} could not be recorded: {failure.Message}", failure),
                _ => throw new InvalidOperationException("a job was neither accepted nor refused"),
            };
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

    private static async Task<Results<Created<NodeJobStatus>, Ok<NodeJobStatus>, Ok<NodeStartAnswer[]>, ValidationProblem, ProblemHttpResult>> SubmitBatchAsync(
        ReadOnlyMemory<byte> body, JobStore store, SlotGate slots, JobRunner runner, TimeProvider time)
    {
        List<Item> items;
        try
        {
            using var document = JsonDocument.Parse(body);
            var count = document.RootElement.GetArrayLength();
            if (count > NodeBatchLimits.MaxStartBatch)
                return NodeProblems.Invalid("body", $"a batch holds at most {NodeBatchLimits.MaxStartBatch} jobs; this one has {count}");
            items = new List<Item>(count);
            foreach (var element in document.RootElement.EnumerateArray())
            {
                // An item that is not even an object is a malformed batch, refused whole as malformed JSON is; an
                // object that is not a valid job is that job's problem alone.
                if (element.ValueKind != JsonValueKind.Object)
                    return NodeProblems.Invalid($"[{items.Count.ToString(CultureInfo.InvariantCulture)}]", "each item of a batch must be a JSON object (a job)");
                items.Add(ReadItem(element));
            }
        }
        catch (JsonException e)
        {
            return (ValidationProblem)Extensions.BadJson(e);
        }
        await AdmitAsync(items, store, slots, runner, time);
        var answers = new NodeStartAnswer[items.Count];
        for (var i = 0; i < items.Count; i++)
            answers[i] = Answer(i, items[i]);
        return TypedResults.Ok(answers);
    }

    private static Item ReadItem(JsonElement element)
    {
        try
        {
            return new Item(element.Deserialize<NodeJobRequest>(DroverJson.Options), null);
        }
        catch (JsonException e)
        {
            return new Item(null, Extensions.BadJson(e));
        }
    }

    /// <summary>
    /// Checks and claims each job in turn (its own problem when it is refused), then records every claimed one in one
    /// pass and starts it; an id already known is answered with that job once it is on disk, as a second request is.
    /// </summary>
    private static async Task AdmitAsync(IReadOnlyList<Item> items, JobStore store, SlotGate slots, JobRunner runner, TimeProvider time)
    {
        var claimed = new List<Item>(items.Count);
        foreach (var item in items)
        {
            if (item.Problem is not null)
                continue;
            var spec = item.Spec!;
            var problems = JobRules.Check(spec);
            if (problems.Count > 0)
            {
                item.Problem = NodeProblems.Invalid(problems);
                continue;
            }
            var id = spec.RequestId ?? Guid.CreateVersion7().ToString("N");
            item.Spec = spec = spec with { RequestId = id };
            if (store.TryGet(id, out var existing))
            {
                item.Existing = existing;
                continue;
            }
            if (!slots.TryReserve())
            {
                item.RetryAfter = "1";
                item.Problem = NodeProblems.SlotsFull(slots.Capacity);
                continue;
            }
            // The job holds a slot and the runner starts it at once, so it is recorded as running from the start: the
            // fsync that makes the accept durable also stands for "started", so a restart never runs it again, and
            // the 201 tells the scheduler it runs. (A Processor that dies before the first command starts reports
            // the job node_restarted, not queued.)
            var now = time.GetUtcNow();
            var job = new Job(id, store.DirectoryOf(id), spec,
                new NodeJobStatus { RequestId = id, State = JobState.Running, Status = JobStatus.Unknown, CreatedAt = now, StartedAt = now });
            // Two identical requests racing (or twice in one batch): exactly one claims the id and records the job; the
            // other waits for that.
            var winner = store.GetOrAdd(job);
            if (winner != job)
            {
                slots.Release();
                item.Existing = winner;
                continue;
            }
            item.Claimed = job;
            claimed.Add(item);
        }

        if (claimed.Count > 0)
            Record(claimed, store, runner, slots);

        foreach (var item in items)
        {
            if (item.Existing is not { } twin)
                continue;
            try
            {
                await twin.Recorded;
            }
            catch (Exception e)
            {
                // Its twin failed to be recorded, so neither is: the same answer as the twin's caller got.
                item.Existing = null;
                item.Failure = e;
                if (e is IOException io && e is not FileNotFoundException and not DirectoryNotFoundException)
                {
                    item.RetryAfter = "5";
                    item.Problem = NodeProblems.CannotRecord(io);
                }
            }
        }
    }

    private static void Record(List<Item> claimed, JobStore store, JobRunner runner, SlotGate slots)
    {
        var publications = new List<Publication>(claimed.Count);
        var errors = new Exception?[claimed.Count];
        for (var i = 0; i < claimed.Count; i++)
        {
            try
            {
                claimed[i].Staging ??= store.CreateStaging();
            }
            catch (Exception e)
            {
                errors[i] = e;
            }
        }
        var ready = Enumerable.Range(0, claimed.Count).Where(i => errors[i] is null).ToList();
        var published = store.Publish([.. ready.Select(i => new Publication(claimed[i].Claimed!, claimed[i].Spec!, claimed[i].Staging!, claimed[i].WithFiles))]);
        for (var k = 0; k < ready.Count; k++)
            errors[ready[k]] = published[k];

        for (var i = 0; i < claimed.Count; i++)
        {
            var item = claimed[i];
            var job = item.Claimed!;
            if (errors[i] is not { } error)
            {
                item.Staging = null;
                job.MarkRecorded();
                runner.Start(job);
                continue;
            }
            store.Forget(job);
            slots.Release();
            job.FailRecording(error);
            JobStore.Discard(item.Staging);
            item.Staging = null;
            item.Claimed = null;
            item.Failure = error;
            if (error is IOException io && error is not FileNotFoundException and not DirectoryNotFoundException)
            {
                // The state directory is full or failing: nothing was recorded, and the caller may place the job elsewhere.
                item.RetryAfter = "5";
                item.Problem = NodeProblems.CannotRecord(io);
            }
        }
    }

    /// <summary>What one item of a batch is answered: the status and body it would have been answered alone.</summary>
    private static NodeStartAnswer Answer(int index, Item item)
    {
        if (item.Claimed is { } job)
            return new NodeStartAnswer { Status = StatusCodes.Status201Created, Job = job.Status };
        if (item.Existing is { } twin)
            return new NodeStartAnswer { Status = StatusCodes.Status200OK, Job = twin.Status };
        var name = item.Spec?.RequestId is { } id ? $"item {index} of the batch (request_id '{id}')" : $"item {index} of the batch";
        var problem = item.Problem switch
        {
            ValidationProblem v => Problem(v.ProblemDetails, v.ProblemDetails.Errors),
            ProblemHttpResult p => Problem(p.ProblemDetails, p.ProblemDetails.Extensions.TryGetValue("errors", out var e) ? e as IDictionary<string, string[]> : null),
            _ => new NodeProblem
            {
                Title = "The job could not be recorded",
                Status = StatusCodes.Status500InternalServerError,
                Detail = item.Failure?.Message,
            },
        };
        return new NodeStartAnswer
        {
            Status = problem.Status ?? StatusCodes.Status500InternalServerError,
            Problem = problem with { Detail = problem.Detail is { } detail ? $"{name}: {detail}" : name },
        };
    }

    private static NodeProblem Problem(ProblemDetails details, IDictionary<string, string[]>? errors) => new()
    {
        Type = details.Type,
        Title = details.Title,
        Status = details.Status,
        Detail = details.Detail,
        Errors = errors is null ? null : new Dictionary<string, string[]>(errors, StringComparer.Ordinal),
    };

    /// <summary>A JSON job is small: read it whole, so that one look at its first byte tells one job from a batch.</summary>
    private static async Task<ReadOnlyMemory<byte>> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream(request.ContentLength is > 0 and < 1 << 20 ? (int)request.ContentLength.Value : 4096);
        await request.Body.CopyToAsync(buffer, cancellationToken);
        return buffer.GetBuffer().AsMemory(0, (int)buffer.Length);
    }

    private static bool StartsArray(ReadOnlySpan<byte> body)
    {
        var text = body.TrimStart(" \t\r\n"u8);
        return text.Length > 0 && text[0] == (byte)'[';
    }

    private static Parsed ReadJson(ReadOnlySpan<byte> body)
    {
        try
        {
            var spec = JsonSerializer.Deserialize<NodeJobRequest>(body, DroverJson.Options);
            return spec is null
                ? new Parsed(null, NodeProblems.Invalid("body", "the body must be a JSON object"), false)
                : new Parsed(spec, null, false);
        }
        catch (JsonException e)
        {
            return new Parsed(null, Extensions.BadJson(e), false);
        }
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
            return new Parsed(null, Extensions.BadJson(e), false);
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
