using System.Globalization;
using System.Text.Json;
using Drover.Contracts;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.Scheduler.Jobs;

/// <summary>A submission read and checked: the job, and where its uploaded files wait (if any).</summary>
internal sealed record Submission(JobSpec Spec, string? FilesDir);

/// <summary>
/// Reads <c>POST /scheduler/jobs/new</c> in its three shapes: JSON, form-encoded fields (<c>command=curl "https://x/"</c>,
/// split by shell-word rules), and multipart (a <c>spec</c> JSON part or the same fields, plus files). Nothing is kept
/// when the job is not valid.
/// </summary>
internal static class SubmissionReader
{
    public static async Task<(Submission? Submission, IResult? Problem)> ReadAsync(HttpRequest request, SchedulerOptions options, CancellationToken cancellationToken)
    {
        try
        {
            if (request.HasJsonContentType())
            {
                var spec = await JsonSerializer.DeserializeAsync<JobSpec>(request.Body, DroverJson.Options, cancellationToken);
                if (spec is null)
                    return (null, Problem("body", "the body is JSON null; send a job object"));
                if (spec.Files.Count > 0)
                    return (null, Problem("files", "files are uploaded as multipart/form-data parts, not named in JSON"));
                return Checked(spec, null);
            }
            if (!request.HasFormContentType)
                return (null, TypedResults.Problem(
                    statusCode: StatusCodes.Status415UnsupportedMediaType,
                    title: "Unsupported content type",
                    detail: "Send the job as application/json, application/x-www-form-urlencoded or multipart/form-data."));
            var form = await request.ReadFormAsync(cancellationToken);
            if (LooksLikeJson(request, form))
                return (null, JsonSentAsForm());
            return await FromFormAsync(form, options, cancellationToken);
        }
        catch (JsonException e)
        {
            return (null, ServiceDefaults.Extensions.BadJson(e));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge(options));
        }
        catch (InvalidDataException e) when (e.Message.Contains("limit", StringComparison.OrdinalIgnoreCase))
        {
            return (null, TooLarge(options));
        }
    }

    /// <summary>
    /// <c>curl -d '{"commands": ...}'</c> without a content type sends JSON as a form: it reads as one field named
    /// like the JSON text. The DAG route asks this too, before it refuses a body that is not JSON.
    /// </summary>
    /// <summary>
    /// Reads a JSON body whole and hands its root to <paramref name="read"/>: bad JSON is a 400 naming where, a body
    /// over <c>Scheduler:MaxRequestBodySize</c> a 413. The DAG and batch routes read their bodies this way.
    /// </summary>
    public static async Task<(T? Value, IResult? Problem)> ReadJsonAsync<T>(
        HttpRequest request, SchedulerOptions options, Func<JsonElement, SchedulerOptions, (T?, IResult?)> read, CancellationToken cancellationToken)
        where T : class
    {
        try
        {
            using var document = await JsonDocument.ParseAsync(request.Body, default, cancellationToken);
            return read(document.RootElement, options);
        }
        catch (JsonException e)
        {
            return (null, ServiceDefaults.Extensions.BadJson(e));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TypedResults.Problem(statusCode: StatusCodes.Status413PayloadTooLarge, title: "The request body is too large",
                detail: $"The limit is {options.MaxRequestBodySize} bytes (Scheduler:MaxRequestBodySize)."));
        }
    }

    public static async Task<IResult?> JsonSentAsFormAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        if (!request.HasFormContentType)
            return null;
        return LooksLikeJson(request, await request.ReadFormAsync(cancellationToken)) ? JsonSentAsForm() : null;
    }

    private static bool LooksLikeJson(HttpRequest request, IFormCollection form) =>
        request.ContentType?.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase) != true
        && form.Files.Count == 0
        && form.Keys.Any(key => key.TrimStart() is ['{' or '[', ..]);

    private static ValidationProblem JsonSentAsForm() => TypedResults.ValidationProblem(
        new Dictionary<string, string[]>
        {
            ["Content-Type"] = ["the body is JSON but its Content-Type is application/x-www-form-urlencoded (curl -d's default); "
                + "send it with -H 'Content-Type: application/json'"],
        },
        title: "The body looks like JSON but was sent as a form",
        detail: "Add -H 'Content-Type: application/json' to the request (curl -d sends application/x-www-form-urlencoded), or send form fields such as command=...");

    private static ProblemHttpResult TooLarge(SchedulerOptions options) => TypedResults.Problem(
        statusCode: StatusCodes.Status413PayloadTooLarge,
        title: "The request body is too large",
        detail: $"The limit is {options.MaxRequestBodySize} bytes (Scheduler:MaxRequestBodySize).",
        extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["body"] = ["over the size limit"] } });

    private static ValidationProblem Problem(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The job is not valid");

    private static async Task<(Submission?, IResult?)> FromFormAsync(IFormCollection form, SchedulerOptions options, CancellationToken cancellationToken)
    {
        JobSpec spec;
        var problems = new Dictionary<string, string[]>();
        var specText = form.TryGetValue("spec", out var specField) ? specField.ToString()
            : form.Files.GetFile("spec") is { } specFile ? await ReadTextAsync(specFile, cancellationToken) : null;
        if (specText is not null)
        {
            try
            {
                spec = JsonSerializer.Deserialize<JobSpec>(specText, DroverJson.Options) ?? new JobSpec();
            }
            catch (JsonException e)
            {
                return (null, ServiceDefaults.Extensions.BadJson(e));
            }
        }
        else
        {
            spec = FromFields(form, problems);
        }
        if (problems.Count > 0)
            return (null, TypedResults.ValidationProblem(problems, title: "The job is not valid"));

        var files = form.Files.Where(f => f.Name != "spec").ToList();
        foreach (var file in files)
            if (JobRules.CheckFileName(file.FileName) is { } problem)
                problems[$"files.{file.Name}"] = [problem];
        if (files.Select(f => f.FileName).Distinct(StringComparer.Ordinal).Count() != files.Count)
            problems["files"] = ["two files have the same name"];
        spec = spec with { Files = files.Select(f => f.FileName).ToList() };
        var (checkedSubmission, checkProblem) = Checked(spec, null, problems);
        if (checkProblem is not null || files.Count == 0)
            return (checkedSubmission, checkProblem);

        // Written and fsynced (the files, their directory and its parent) before the job is committed: a job the
        // store holds, which the 202 promises survives a power cut, always has its files.
        var dir = Path.GetFullPath(Path.Combine(options.DataDirectory, Guid.CreateVersion7().ToString("N")));
        PrivateFiles.CreateDirectory(dir);
        foreach (var file in files)
        {
            await using var content = file.OpenReadStream();
            await Durability.WriteFileAsync(Path.Combine(dir, file.FileName), content, cancellationToken);
        }
        Durability.SyncDirectory(dir);
        Durability.SyncDirectory(Path.GetDirectoryName(dir)!);
        return (new Submission(spec, dir), null);
    }

    private static async Task<string> ReadTextAsync(IFormFile file, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(file.OpenReadStream());
        return await reader.ReadToEndAsync(cancellationToken);
    }

    /// <summary>
    /// The form fields: <c>command</c>, <c>shell</c>, <c>env</c>, <c>timeout</c>, <c>max_attempts</c>, <c>retry_on</c>, <c>label</c>, <c>node</c>,
    /// <c>priority</c>, <c>request_id</c>, <c>depends_on</c> (<c>12</c> or <c>afternotok:12</c>, repeated), <c>parent</c>, <c>wait_for_children</c>.
    /// </summary>
    private static JobSpec FromFields(IFormCollection form, Dictionary<string, string[]> problems)
    {
        var commands = new List<CommandSpec>();
        foreach (var line in form["command"])
        {
            try
            {
                var argv = ShellWords.Split(line ?? "");
                if (argv.Count == 0)
                    problems["command"] = ["the command is empty"];
                else
                    commands.Add(CommandSpec.FromArgv([.. argv]));
            }
            catch (FormatException e)
            {
                problems["command"] = [$"the command cannot be split into words: {e.Message}"];
            }
        }
        commands.AddRange(form["shell"].Select(line => CommandSpec.FromShell(line ?? "")));

        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in form["env"])
        {
            if (pair?.Split('=', 2) is [var name, var value])
                environment[name] = value;
            else
                problems["env"] = [$"'{pair}' is not NAME=value"];
        }
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in form["label"])
        {
            if (pair?.Split('=', 2) is [{ Length: > 0 } key, var value])
                labels[key] = value;
            else
                problems["label"] = [$"'{pair}' is not key=value"];
        }
        var node = form["node"].ToString();
        var dependsOn = new List<Dependency>();
        foreach (var item in form["depends_on"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var (word, job) = item.Split(':', 2) is [var c, var j] ? (c, j) : ("afterok", item);
            if (Enum.TryParse<DependencyCondition>(word, ignoreCase: true, out var condition) && !int.TryParse(word, out _))
                dependsOn.Add(new Dependency(job, condition));
            else
                problems["depends_on"] = [$"'{item}' is not a job id or condition:id (afterok, afternotok, afterany)"];
        }
        var retryOn = new List<StopReason>();
        foreach (var word in form["retry_on"].SelectMany(v => (v ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            if (Wire.TryParse<StopReason>(word, out var reason))
                retryOn.Add(reason);
            else
                problems["retry_on"] = [$"'{word}' is not a reason: {string.Join(", ", Lifecycle.Retryable.Select(r => Wire.Word(r)))}"];
        }
        var waitForChildren = form["wait_for_children"].ToString();
        if (waitForChildren.Length > 0 && !bool.TryParse(waitForChildren, out _))
            problems["wait_for_children"] = ["wait_for_children is true or false"];
        return new JobSpec
        {
            Commands = commands,
            Environment = environment,
            RequestId = form.TryGetValue("request_id", out var requestId) ? requestId.ToString() : null,
            TimeoutSeconds = Number(form, problems, "timeout", "timeout_seconds"),
            MaxAttempts = (int?)Integer(form, problems, "max_attempts"),
            RetryOn = form.ContainsKey("retry_on") ? retryOn : null,
            Priority = (int)(Integer(form, problems, "priority") ?? 0),
            Constraints = labels.Count > 0 || node.Length > 0 ? new JobConstraints { Node = node.Length > 0 ? node : null, Labels = labels } : null,
            DependsOn = dependsOn.Count > 0 ? dependsOn : null,
            Parent = Integer(form, problems, "parent"),
            WaitForChildren = bool.TryParse(waitForChildren, out var wait) && wait,
        };
    }

    private static double? Number(IFormCollection form, Dictionary<string, string[]> problems, params string[] names)
    {
        foreach (var name in names)
        {
            if (!form.TryGetValue(name, out var text))
                continue;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
                return value;
            problems[name] = [$"'{text}' is not a number of seconds"];
        }
        return null;
    }

    private static long? Integer(IFormCollection form, Dictionary<string, string[]> problems, string name)
    {
        if (!form.TryGetValue(name, out var text))
            return null;
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var value) && (name == "parent" ? value > 0 : value == (int)value))
            return value;
        problems[name] = [$"'{text}' is not a whole number"];
        return null;
    }

    private static (Submission?, IResult?) Checked(JobSpec spec, string? filesDir, Dictionary<string, string[]>? problems = null)
    {
        problems ??= [];
        Check(spec, problems);
        return problems.Count > 0
            ? (null, TypedResults.ValidationProblem(problems, title: "The job is not valid"))
            : (new Submission(spec, filesDir), null);
    }

    /// <summary>The rules on one job's fields (a DAG request applies them to each of its jobs).</summary>
    public static void Check(JobSpec spec, Dictionary<string, string[]> problems)
    {
        JobRules.CheckCommands(spec.Commands, problems);
        JobRules.CheckEnvironment(spec.Environment, problems);
        if (spec.RequestId is not null && !JobRules.IsSafeName(spec.RequestId))
            problems["request_id"] = [$"request_id must be 1-{JobRules.MaxNameLength} characters of letters, digits, '.', '_' or '-', not starting with '.'"];
        if (JobRules.TimeoutProblem(spec.TimeoutSeconds) is { } timeout)
            problems["timeout_seconds"] = [timeout];
        if (spec.MaxAttempts is { } m && (m < 1 || m > JobLimits.MaxAttempts))
            problems["max_attempts"] = [$"max_attempts must be between 1 and {JobLimits.MaxAttempts}"];
        for (var i = 0; i < (spec.RetryOn?.Count ?? 0); i++)
            if (!Lifecycle.Retryable.Contains(spec.RetryOn![i]))
                problems[$"retry_on[{i}]"] = [$"retry_on names reasons an attempt of the job's own can fail for: {string.Join(", ", Lifecycle.Retryable.Select(r => Wire.Word(r)))}"];
        if (Math.Abs((long)spec.Priority) > JobLimits.MaxPriority)
            problems["priority"] = [$"priority must be between -{JobLimits.MaxPriority} and {JobLimits.MaxPriority}"];
        if (spec.Constraints?.Node is { } node && !JobRules.IsSafeName(node))
            problems["constraints.node"] = ["a node name is letters, digits, '.', '_' or '-'"];
        foreach (var (key, value) in spec.Constraints?.Labels ?? new Dictionary<string, string>())
            if (string.IsNullOrEmpty(key) || value is null)
                problems["constraints.labels"] = ["labels are non-empty names with string values"];
    }
}
