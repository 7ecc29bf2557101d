using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Xml.Linq;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Logging;

namespace Drover.Aws.Tests.Fake;

/// <summary>
/// An ECS, CloudWatch Logs and EC2 endpoint on 127.0.0.1 that speaks AWS's wire protocols, holds every request
/// and answer to botocore's models, checks every SigV4 signature, and runs tasks as local processes.
/// It can be told to throttle, fail, refuse placement or forget a task.
/// </summary>
internal sealed class FakeAws : IAsyncDisposable
{
    public const string AccessKeyId = "AKIDDROVERTESTKEY001";
    public const string SecretAccessKey = "drover+test/secret0000000000000000000000";
    public const string Region = "us-east-1";
    public const string Account = "123456789012";
    public const string Cluster = "drover-test";
    private const string JsonContentType = "application/x-amz-json-1.1";
    private static readonly XNamespace Ec2Namespace = "http://ec2.amazonaws.com/doc/2016-11-15/";
    private static readonly HashSet<string> RunTaskExtras = ["clientToken"]; // in RunTask since 2023; the 2022 model lacks it

    private readonly WebApplication _app;
    private readonly ServiceModel _ecsModel = ServiceModel.Load("ecs", "2014-11-13");
    private readonly ServiceModel _logsModel = ServiceModel.Load("logs", "2014-03-28");
    private readonly ServiceModel _ec2Model = ServiceModel.Load("ec2", "2016-11-15");
    private readonly SigV4Verifier _verifier = new(AccessKeyId, SecretAccessKey, Region, TimeProvider.System);
    private readonly Lock _lock = new();
    private readonly Dictionary<string, FakeTask> _tasks = new(StringComparer.Ordinal);
    private readonly List<FakeTask> _taskOrder = [];
    private readonly Dictionary<string, string> _clientTokens = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<FakeLogEvent>> _logs = new(StringComparer.Ordinal);
    private readonly List<FakeInstance> _instances = [];
    private readonly string _workDir = Directory.CreateTempSubdirectory("drover-fake-ecs-").FullName;
    private int _throttleNext;
    private int _failNext;
    private int _delayNext;
    private bool _disposed;
    private int _runTaskAnswers;
    private int _listsByStartedBy;
    private TimeSpan _delay;
    private string? _delayOperation;

    private FakeAws(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;
    public HashSet<string> Clusters { get; } = [Cluster];
    public Dictionary<string, FakeTaskDefinition> TaskDefinitions { get; } = new(StringComparer.Ordinal)
    {
        ["drover-job"] = new("drover-job", "main", "/drover/jobs", "drover"),
    };

    /// <summary>How long each step before RUNNING takes (PROVISIONING → PENDING → RUNNING).</summary>
    public TimeSpan LifecycleStep { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Events a GetLogEvents page holds at most, small so that paging is exercised.</summary>
    public int LogPageSize { get; set; } = 3;

    /// <summary>Reasons RunTask answers as <c>failures</c> (placement refused), one per call, in order.</summary>
    public ConcurrentQueue<string> PlacementFailures { get; } = new();

    /// <summary>Every operation that reached the server with a good signature, in order.</summary>
    public ConcurrentQueue<string> Calls { get; } = new();

    /// <summary>Requests refused for a bad signature or a body off the model: a correct client causes none.</summary>
    public ConcurrentQueue<string> Rejections { get; } = new();

    public int TasksCreated
    {
        get
        {
            lock (_lock)
                return _taskOrder.Count;
        }
    }

    public static async Task<FakeAws> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var fake = new FakeAws(app);
        app.MapPost("/", fake.HandleAsync);
        await app.StartAsync();
        fake.Url = new Uri(app.Urls.First() + "/");
        return fake;
    }

    /// <summary>The next <paramref name="count"/> calls answer 400 ThrottlingException.</summary>
    public void ThrottleNext(int count) => Interlocked.Exchange(ref _throttleNext, count);

    /// <summary>
    /// The next <paramref name="count"/> calls (of <paramref name="operation"/> only, when given) are carried out only
    /// after <paramref name="delay"/>, as on a slow connection.
    /// </summary>
    public void DelayNext(int count, TimeSpan delay, string? operation = null)
    {
        _delay = delay;
        _delayOperation = operation;
        Interlocked.Exchange(ref _delayNext, count);
    }

    /// <summary>Operations answered <c>AccessDeniedException</c>, as for a role that lacks the permission.</summary>
    public ConcurrentDictionary<string, byte> Denied { get; } = new(StringComparer.Ordinal);

    /// <summary>The next <paramref name="count"/> calls answer 500.</summary>
    public void FailNext(int count) => Interlocked.Exchange(ref _failNext, count);

    /// <summary>ECS forgets the task, as when it was stopped long ago: DescribeTasks answers MISSING.</summary>
    public void Forget(string taskArn)
    {
        lock (_lock)
        {
            if (_tasks.Remove(taskArn, out var task))
                StopProcess(task);
        }
    }

    public IReadOnlyList<FakeTask> Tasks
    {
        get
        {
            lock (_lock)
                return [.. _taskOrder];
        }
    }

    public FakeTask? Task(string arn)
    {
        lock (_lock)
            return _tasks.GetValueOrDefault(arn);
    }

    public void AddInstance(FakeInstance instance)
    {
        lock (_lock)
            _instances.Add(instance);
    }

    public void RemoveInstance(string instanceId)
    {
        lock (_lock)
            _instances.RemoveAll(i => i.InstanceId == instanceId);
    }

    private async Task HandleAsync(HttpContext context)
    {
        using var buffer = new MemoryStream();
        await context.Request.Body.CopyToAsync(buffer);
        var body = buffer.ToArray();
        var target = context.Request.Headers["X-Amz-Target"].ToString();
        if (target.StartsWith(Drover.Aws.Ecs.EcsClient.EcsTarget + ".", StringComparison.Ordinal))
            await HandleJsonAsync(context, body, "ecs", _ecsModel, target[(target.IndexOf('.', StringComparison.Ordinal) + 1)..]);
        else if (target.StartsWith(Drover.Aws.Ecs.EcsClient.LogsTarget + ".", StringComparison.Ordinal))
            await HandleJsonAsync(context, body, "logs", _logsModel, target[(target.IndexOf('.', StringComparison.Ordinal) + 1)..]);
        else if (context.Request.ContentType?.StartsWith("application/x-www-form-urlencoded", StringComparison.Ordinal) == true)
            await HandleEc2Async(context, body);
        else
            await JsonError(context, 400, "UnknownOperationException", "no X-Amz-Target and not an EC2 query");
    }

    private async Task HandleJsonAsync(HttpContext context, byte[] body, string service, ServiceModel model, string operation)
    {
        if (_verifier.Verify(context.Request, body, service) is { } signatureError)
        {
            Rejections.Enqueue($"{service}.{operation}: {signatureError}");
            await JsonError(context, 403, "InvalidSignatureException", signatureError);
            return;
        }
        Calls.Enqueue(operation);
        if (context.Request.ContentType != JsonContentType)
        {
            Rejections.Enqueue($"{operation}: Content-Type {context.Request.ContentType}");
            await JsonError(context, 400, "SerializationException", $"Content-Type must be {JsonContentType}");
            return;
        }
        if (!model.HasOperation(operation))
        {
            Rejections.Enqueue($"{service}: unknown operation {operation}");
            await JsonError(context, 400, "UnknownOperationException", operation);
            return;
        }
        if (TakeOne(ref _throttleNext))
        {
            await JsonError(context, 400, "ThrottlingException", "Rate exceeded");
            return;
        }
        if (TakeOne(ref _failNext))
        {
            await JsonError(context, 500, service == "ecs" ? "ServerException" : "ServiceUnavailableException", "injected failure");
            return;
        }
        if (Denied.ContainsKey(operation))
        {
            await JsonError(context, 400, "AccessDeniedException",
                $"User: arn:aws:iam::{Account}:user/drover is not authorized to perform: {service}:{operation}");
            return;
        }
        if ((_delayOperation is null || _delayOperation == operation) && TakeOne(ref _delayNext))
            await System.Threading.Tasks.Task.Delay(_delay);

        JsonElement input;
        try
        {
            input = JsonDocument.Parse(body).RootElement;
        }
        catch (JsonException e)
        {
            Rejections.Enqueue($"{operation}: {e.Message}");
            await JsonError(context, 400, "SerializationException", e.Message);
            return;
        }
        var errors = model.ValidateJson(model.InputShape(operation)!, input, operation == "RunTask" ? RunTaskExtras : null);
        if (errors.Count > 0)
        {
            Rejections.Enqueue($"{operation}: {string.Join("; ", errors)}");
            await JsonError(context, 400, "InvalidParameterException", string.Join("; ", errors));
            return;
        }

        JsonObject output;
        try
        {
            output = service == "ecs" ? Ecs(operation, input) : Logs(operation, input);
        }
        catch (FakeError e)
        {
            await JsonError(context, e.Status, e.Type, e.Message);
            return;
        }
        var outputErrors = model.ValidateJson(model.OutputShape(operation)!, JsonDocument.Parse(output.ToJsonString()).RootElement);
        if (outputErrors.Count > 0)
            throw new InvalidOperationException($"the test server's {operation} answer is off the model: {string.Join("; ", outputErrors)}");
        context.Response.ContentType = JsonContentType;
        await context.Response.WriteAsync(output.ToJsonString());
    }

    private static bool TakeOne(ref int counter)
    {
        while (true)
        {
            var seen = Volatile.Read(ref counter);
            if (seen <= 0)
                return false;
            if (Interlocked.CompareExchange(ref counter, seen - 1, seen) == seen)
                return true;
        }
    }

    private static Task JsonError(HttpContext context, int status, string type, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = JsonContentType;
        var prefix = type == "ThrottlingException" ? "" : "com.amazonaws.ecs#";
        return context.Response.WriteAsync(new JsonObject { ["__type"] = prefix + type, ["message"] = message }.ToJsonString());
    }

    private JsonObject Ecs(string operation, JsonElement input) => operation switch
    {
        "RunTask" => RunTask(input),
        "DescribeTasks" => DescribeTasks(input),
        "StopTask" => StopTask(input),
        "ListTasks" => ListTasks(input),
        "DescribeClusters" => DescribeClusters(input),
        _ => throw new FakeError(400, "UnsupportedFeatureException", $"the test server does not do {operation}"),
    };

    private string ClusterOf(JsonElement input)
    {
        var cluster = input.TryGetProperty("cluster", out var c) ? c.GetString()! : "default";
        var name = cluster[(cluster.LastIndexOf('/') + 1)..];
        if (!Clusters.Contains(name))
            throw new FakeError(400, "ClusterNotFoundException", "Cluster not found.");
        return name;
    }

    /// <summary>ListTasks calls that looked for one <c>startedBy</c>.</summary>
    public int ListsByStartedBy => Volatile.Read(ref _listsByStartedBy);

    /// <summary>RunTask calls answered with a task, whether new or found by its client token.</summary>
    public int RunTaskAnswers => Volatile.Read(ref _runTaskAnswers);

    private JsonObject RunTask(JsonElement input)
    {
        var answer = RunTaskCore(input);
        if (answer["tasks"]!.AsArray().Count > 0)
            Interlocked.Increment(ref _runTaskAnswers);
        return answer;
    }

    private JsonObject RunTaskCore(JsonElement input)
    {
        var cluster = ClusterOf(input);
        var family = input.GetProperty("taskDefinition").GetString()!;
        family = family[(family.LastIndexOf('/') + 1)..].Split(':')[0];
        if (!TaskDefinitions.TryGetValue(family, out var definition))
            throw new FakeError(400, "ClientException", "Unable to describe task definition.");
        var token = input.TryGetProperty("clientToken", out var t) ? t.GetString() : null;

        lock (_lock)
        {
            if (token is not null && _clientTokens.TryGetValue(token, out var existing) && _tasks.TryGetValue(existing, out var again))
                return new JsonObject { ["tasks"] = new JsonArray(again.ToJson(Region, Account)), ["failures"] = new JsonArray() };
        }
        if (PlacementFailures.TryDequeue(out var reason))
        {
            var failure = new JsonObject { ["arn"] = $"arn:aws:ecs:{Region}:{Account}:container-instance/{cluster}/0123456789abcdef", ["reason"] = reason };
            return new JsonObject { ["tasks"] = new JsonArray(), ["failures"] = new JsonArray(failure) };
        }

        IReadOnlyList<string> command = [];
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        JsonNode? overrides = null;
        if (input.TryGetProperty("overrides", out var o))
        {
            overrides = JsonNode.Parse(o.GetRawText());
            foreach (var container in o.TryGetProperty("containerOverrides", out var list) ? list.EnumerateArray() : default)
            {
                if (container.TryGetProperty("name", out var n) && n.GetString() != definition.ContainerName)
                    throw new FakeError(400, "InvalidParameterException", $"Override for container named {n.GetString()} is not a container in the TaskDefinition.");
                if (container.TryGetProperty("command", out var argv))
                    command = [.. argv.EnumerateArray().Select(a => a.GetString()!)];
                foreach (var pair in container.TryGetProperty("environment", out var env) ? env.EnumerateArray() : default)
                    environment[pair.GetProperty("name").GetString()!] = pair.GetProperty("value").GetString()!;
            }
        }
        if (command.Count == 0)
            throw new FakeError(400, "InvalidParameterException", "the test server's task definitions have no default command: override it");

        var task = new FakeTask
        {
            Arn = $"arn:aws:ecs:{Region}:{Account}:task/{cluster}/{Guid.NewGuid():N}",
            Cluster = cluster,
            Definition = definition,
            Command = command,
            Environment = environment,
            StartedBy = input.TryGetProperty("startedBy", out var s) ? s.GetString() : null,
            LaunchType = input.TryGetProperty("launchType", out var l) ? l.GetString() : null,
            Overrides = overrides,
            CreatedAt = DateTimeOffset.UtcNow,
        };
        lock (_lock)
        {
            _tasks[task.Arn] = task;
            _taskOrder.Add(task);
            if (token is not null)
                _clientTokens[token] = task.Arn;
        }
        _ = System.Threading.Tasks.Task.Run(() => RunLifecycleAsync(task));
        lock (_lock)
            return new JsonObject { ["tasks"] = new JsonArray(task.ToJson(Region, Account)), ["failures"] = new JsonArray() };
    }

    private async Task RunLifecycleAsync(FakeTask task)
    {
        await System.Threading.Tasks.Task.Delay(LifecycleStep);
        lock (_lock)
        {
            if (task.DesiredStatus == "STOPPED")
                return;
            task.LastStatus = "PENDING";
            task.Version++;
        }
        await System.Threading.Tasks.Task.Delay(LifecycleStep);
        // A container's stdout and stderr reach its log as one stream in the order written (as with a TTY): the
        // program runs under `sh -c 'exec "$@" 2>&1'`, which hands it one pipe for both. A program that does not
        // exist still fails to start, as a container whose entry point is missing does.
        var start = new ProcessStartInfo(Exists(task.Command[0]) ? "/bin/sh" : task.Command[0])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (start.FileName == "/bin/sh")
        {
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add("exec \"$@\" 2>&1");
            start.ArgumentList.Add("sh");
            start.ArgumentList.Add(task.Command[0]);
        }
        foreach (var arg in task.Command.Skip(1))
            start.ArgumentList.Add(arg);
        foreach (var (name, value) in task.Environment)
            start.Environment[name] = value;
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => AppendLog(task, e.Data);
        process.ErrorDataReceived += (_, e) => AppendLog(task, e.Data);
        lock (_lock)
        {
            // A task still starting when the server shuts down never starts: no process outlives the test.
            if (task.DesiredStatus == "STOPPED" || _disposed)
                return;
            start.WorkingDirectory = Directory.CreateDirectory(Path.Combine(_workDir, task.TaskId)).FullName;
            try
            {
                process.Start();
            }
            catch (System.ComponentModel.Win32Exception e)
            {
                Stop(task, null, "TaskFailedToStart", $"CannotStartContainerError: {e.Message}", $"CannotStartContainerError: {e.Message}");
                return;
            }
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            task.Process = process;
            task.LastStatus = "RUNNING";
            task.StartedAt = DateTimeOffset.UtcNow;
            task.Version++;
            _logs.TryAdd(LogKey(task.Definition.LogGroup, task.LogStream), []);
        }
        await process.WaitForExitAsync();
        process.WaitForExit(); // drains the output events
        lock (_lock)
        {
            if (task.StopCode == "UserInitiated")
                Stop(task, process.ExitCode, "UserInitiated", task.StoppedReason ?? "Task stopped by user", null);
            else
                Stop(task, process.ExitCode, "EssentialContainerExited", "Essential container in task exited", null);
        }
        process.Dispose();
    }

    private static bool Exists(string program) =>
        program.Contains('/', StringComparison.Ordinal)
            ? File.Exists(program)
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                .Any(dir => File.Exists(Path.Combine(dir, program)));

    private static void Stop(FakeTask task, int? exitCode, string stopCode, string stoppedReason, string? containerReason)
    {
        task.ExitCode = exitCode;
        task.StopCode = stopCode;
        task.StoppedReason = stoppedReason;
        task.ContainerReason = containerReason;
        task.DesiredStatus = "STOPPED";
        task.LastStatus = "STOPPED";
        task.StoppingAt ??= DateTimeOffset.UtcNow;
        task.StoppedAt = DateTimeOffset.UtcNow;
        task.Version++;
    }

    private void AppendLog(FakeTask task, string? line)
    {
        if (line is null)
            return;
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (_lock)
        {
            var key = LogKey(task.Definition.LogGroup, task.LogStream);
            if (!_logs.TryGetValue(key, out var events))
                _logs[key] = events = [];
            events.Add(new FakeLogEvent(now, line, now));
        }
    }

    private static string LogKey(string group, string stream) => group + "\n" + stream;

    private JsonObject DescribeTasks(JsonElement input)
    {
        var cluster = ClusterOf(input);
        var tasks = new JsonArray();
        var failures = new JsonArray();
        lock (_lock)
        {
            foreach (var arn in input.GetProperty("tasks").EnumerateArray().Select(a => a.GetString()!))
            {
                if (_tasks.TryGetValue(arn, out var task) && task.Cluster == cluster)
                    tasks.Add(task.ToJson(Region, Account));
                else
                    failures.Add(new JsonObject { ["arn"] = arn, ["reason"] = "MISSING" });
            }
        }
        if (tasks.Count + failures.Count > 100)
            throw new FakeError(400, "InvalidParameterException", "Tasks cannot be longer than 100.");
        return new JsonObject { ["tasks"] = tasks, ["failures"] = failures };
    }

    private JsonObject StopTask(JsonElement input)
    {
        var cluster = ClusterOf(input);
        var arn = input.GetProperty("task").GetString()!;
        lock (_lock)
        {
            if (!_tasks.TryGetValue(arn, out var task) || task.Cluster != cluster)
                throw new FakeError(400, "InvalidParameterException", "The referenced task was not found.");
            if (task.LastStatus != "STOPPED")
            {
                task.DesiredStatus = "STOPPED";
                task.StopCode = "UserInitiated";
                task.StoppedReason = input.TryGetProperty("reason", out var r) ? r.GetString() : "Task stopped by user";
                task.StoppingAt = DateTimeOffset.UtcNow;
                task.Version++;
                if (task.Process is null)
                    Stop(task, null, "UserInitiated", task.StoppedReason!, null);
                else
                    StopProcess(task);
            }
            return new JsonObject { ["task"] = task.ToJson(Region, Account) };
        }
    }

    private static void StopProcess(FakeTask task)
    {
        try
        {
            if (task.Process is { HasExited: false } process)
                process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // It ended between the check and the kill.
        }
    }

    private JsonObject ListTasks(JsonElement input)
    {
        var cluster = ClusterOf(input);
        var startedBy = input.TryGetProperty("startedBy", out var s) ? s.GetString() : null;
        if (startedBy is not null)
            Interlocked.Increment(ref _listsByStartedBy);
        var desired = input.TryGetProperty("desiredStatus", out var d) ? d.GetString() : "RUNNING";
        var max = input.TryGetProperty("maxResults", out var m) ? m.GetInt32() : 100;
        var from = input.TryGetProperty("nextToken", out var n) ? int.Parse(n.GetString()!, CultureInfo.InvariantCulture) : 0;
        List<string> arns;
        lock (_lock)
        {
            arns = [.. _taskOrder.Where(t => _tasks.ContainsKey(t.Arn) && t.Cluster == cluster
                    && (startedBy is null || t.StartedBy == startedBy)
                    && (desired == "STOPPED" ? t.DesiredStatus == "STOPPED" : t.DesiredStatus == "RUNNING"))
                .Select(t => t.Arn)];
        }
        var page = new JsonArray([.. arns.Skip(from).Take(max).Select(a => (JsonNode)a)]);
        var result = new JsonObject { ["taskArns"] = page };
        if (from + max < arns.Count)
            result["nextToken"] = (from + max).ToString(CultureInfo.InvariantCulture);
        return result;
    }

    private JsonObject DescribeClusters(JsonElement input)
    {
        var clusters = new JsonArray();
        var failures = new JsonArray();
        var asked = input.TryGetProperty("clusters", out var c) ? c.EnumerateArray().Select(e => e.GetString()!).ToList() : ["default"];
        lock (_lock)
        {
            foreach (var name in asked.Select(a => a[(a.LastIndexOf('/') + 1)..]))
            {
                var arn = $"arn:aws:ecs:{Region}:{Account}:cluster/{name}";
                if (!Clusters.Contains(name))
                {
                    failures.Add(new JsonObject { ["arn"] = arn, ["reason"] = "MISSING" });
                    continue;
                }
                var live = _tasks.Values.Where(t => t.Cluster == name && t.LastStatus != "STOPPED").ToList();
                clusters.Add(new JsonObject
                {
                    ["clusterArn"] = arn,
                    ["clusterName"] = name,
                    ["status"] = "ACTIVE",
                    ["runningTasksCount"] = live.Count(t => t.LastStatus == "RUNNING"),
                    ["pendingTasksCount"] = live.Count(t => t.LastStatus != "RUNNING"),
                    ["registeredContainerInstancesCount"] = 0,
                    ["activeServicesCount"] = 0,
                });
            }
        }
        return new JsonObject { ["clusters"] = clusters, ["failures"] = failures };
    }

    private JsonObject Logs(string operation, JsonElement input)
    {
        if (operation != "GetLogEvents")
            throw new FakeError(400, "InvalidOperationException", $"the test server does not do {operation}");
        var group = input.GetProperty("logGroupName").GetString()!;
        var stream = input.GetProperty("logStreamName").GetString()!;
        var limit = Math.Min(input.TryGetProperty("limit", out var l) ? l.GetInt32() : 10_000, LogPageSize);
        var fromHead = input.TryGetProperty("startFromHead", out var h) && h.GetBoolean();
        List<FakeLogEvent> events;
        lock (_lock)
        {
            if (!_logs.TryGetValue(LogKey(group, stream), out var all))
                throw new FakeError(400, "ResourceNotFoundException", "The specified log stream does not exist.");
            events = [.. all];
        }
        int start;
        if (input.TryGetProperty("nextToken", out var token))
        {
            var text = token.GetString()!;
            if (text.Length < 3 || text[0] is not ('f' or 'b') || text[1] != '/'
                || !int.TryParse(text[2..], NumberStyles.None, CultureInfo.InvariantCulture, out start))
                throw new FakeError(400, "InvalidParameterException", "The specified nextToken is invalid.");
            if (text[0] == 'b')
                start = Math.Max(0, start - limit);
        }
        else
        {
            start = fromHead ? 0 : Math.Max(0, events.Count - limit);
        }
        var page = events.Skip(start).Take(limit).ToList();
        var end = start + page.Count;
        return new JsonObject
        {
            ["events"] = new JsonArray([.. page.Select(e => (JsonNode)new JsonObject
            {
                ["timestamp"] = e.Timestamp,
                ["message"] = e.Message,
                ["ingestionTime"] = e.IngestionTime,
            })]),
            ["nextForwardToken"] = $"f/{end.ToString("D12", CultureInfo.InvariantCulture)}",
            ["nextBackwardToken"] = $"b/{start.ToString("D12", CultureInfo.InvariantCulture)}",
        };
    }

    private async Task HandleEc2Async(HttpContext context, byte[] body)
    {
        if (_verifier.Verify(context.Request, body, "ec2") is { } signatureError)
        {
            Rejections.Enqueue($"ec2: {signatureError}");
            await XmlError(context, 401, "AuthFailure", signatureError);
            return;
        }
        var form = QueryHelpers.ParseQuery(Encoding.UTF8.GetString(body)).ToDictionary(p => p.Key, p => p.Value.ToString(), StringComparer.Ordinal);
        var action = form.GetValueOrDefault("Action") ?? "";
        Calls.Enqueue(action);
        if (form.GetValueOrDefault("Version") != "2016-11-15" || !_ec2Model.HasOperation(action))
        {
            Rejections.Enqueue($"ec2: action {action} version {form.GetValueOrDefault("Version")}");
            await XmlError(context, 400, "InvalidAction", $"The action {action} is not valid for this web service.");
            return;
        }
        if (TakeOne(ref _throttleNext))
        {
            await XmlError(context, 503, "RequestLimitExceeded", "Request limit exceeded.");
            return;
        }
        var errors = _ec2Model.ValidateQuery(_ec2Model.InputShape(action)!, form);
        if (errors.Count > 0)
        {
            Rejections.Enqueue($"{action}: {string.Join("; ", errors)}");
            await XmlError(context, 400, "InvalidParameterValue", string.Join("; ", errors));
            return;
        }
        if (action != "DescribeInstances")
        {
            await XmlError(context, 400, "UnsupportedOperation", $"the test server does not do {action}");
            return;
        }
        var max = form.TryGetValue("MaxResults", out var m) ? int.Parse(m, CultureInfo.InvariantCulture) : 1000;
        if (max is < 5 or > 1000)
        {
            await XmlError(context, 400, "InvalidParameterValue", "MaxResults must be between 5 and 1000");
            return;
        }
        var filters = new List<(string Name, List<string> Values)>();
        for (var i = 1; form.TryGetValue($"Filter.{i}.Name", out var name); i++)
        {
            var values = new List<string>();
            for (var j = 1; form.TryGetValue($"Filter.{i}.Value.{j}", out var value); j++)
                values.Add(value);
            filters.Add((name, values));
        }
        var from = form.TryGetValue("NextToken", out var next) ? int.Parse(next, CultureInfo.InvariantCulture) : 0;
        List<FakeInstance> matching;
        lock (_lock)
            matching = [.. _instances.Where(i => filters.All(f => Matches(i, f.Name, f.Values)))];
        var page = matching.Skip(from).Take(max).ToList();
        var result = new JsonObject
        {
            ["Reservations"] = new JsonArray([.. page.Select(i => (JsonNode)new JsonObject
            {
                ["ReservationId"] = "r-" + i.InstanceId[2..],
                ["OwnerId"] = Account,
                ["Instances"] = new JsonArray(new JsonObject
                {
                    ["InstanceId"] = i.InstanceId,
                    ["PrivateIpAddress"] = i.PrivateIp,
                    ["PrivateDnsName"] = i.PrivateDnsName,
                    ["State"] = new JsonObject { ["Code"] = i.State == "running" ? 16 : 80, ["Name"] = i.State },
                    ["Tags"] = new JsonArray([.. i.Tags.Select(t => (JsonNode)new JsonObject { ["Key"] = t.Key, ["Value"] = t.Value })]),
                }),
            })]),
        };
        if (from + max < matching.Count)
            result["NextToken"] = (from + max).ToString(CultureInfo.InvariantCulture);
        context.Response.ContentType = "text/xml;charset=UTF-8";
        await context.Response.WriteAsync(new XDocument(_ec2Model.ToXml(action, result, Ec2Namespace)).ToString());
    }

    private static bool Matches(FakeInstance instance, string filter, List<string> values) => filter switch
    {
        "instance-state-name" => values.Contains(instance.State),
        "tag-key" => values.Any(instance.Tags.ContainsKey),
        _ when filter.StartsWith("tag:", StringComparison.Ordinal) =>
            instance.Tags.TryGetValue(filter[4..], out var v) && values.Contains(v),
        _ => throw new InvalidOperationException($"the test server does not filter on {filter}"),
    };

    private static Task XmlError(HttpContext context, int status, string code, string message)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/xml;charset=UTF-8";
        var xml = new XElement("Response",
            new XElement("Errors", new XElement("Error", new XElement("Code", code), new XElement("Message", message))),
            new XElement("RequestID", Guid.NewGuid().ToString()));
        return context.Response.WriteAsync(xml.ToString());
    }

    public async ValueTask DisposeAsync()
    {
        List<Process> running;
        lock (_lock)
        {
            _disposed = true;
            foreach (var task in _taskOrder)
                StopProcess(task);
            running = [.. _taskOrder.Select(t => t.Process).OfType<Process>()];
        }
        foreach (var process in running)
        {
            try
            {
                process.WaitForExit(TimeSpan.FromSeconds(5));
            }
            catch (InvalidOperationException)
            {
                // Already disposed by its lifecycle: it has exited.
            }
        }
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_workDir, recursive: true);
        }
        catch (IOException)
        {
            // A process still closing its working directory; the temp folder is cleaned later.
        }
    }
}

internal sealed class FakeError(int status, string type, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string Type { get; } = type;
}
