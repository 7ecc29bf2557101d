using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Drover.Aws.Http;
using Drover.Contracts;
using Microsoft.Extensions.Logging;

namespace Drover.Aws.Ecs;

/// <summary>
/// One ECS cluster as a Drover node: start an attempt as a task, follow it, stop it, read its log. The scheduler's
/// ECS backend wraps this; it keeps no state that a restart would lose, except the clock of tasks not yet visible.
/// </summary>
public sealed partial class EcsNode
{
    /// <summary>DescribeTasks takes at most this many tasks a call.</summary>
    public const int DescribeBatch = 100;
    private const int MaxStartedBy = 36;
    private const int MaxClientToken = 64;
    private const int MaxStopReason = 255;

    private readonly EcsClient _ecs;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    // When each task was first answered MISSING: a grace period starts there, not at every poll.
    private readonly ConcurrentDictionary<string, DateTimeOffset> _missingSince = new(StringComparer.Ordinal);

    // What each task not yet stopped was last seen as: a task briefly MISSING is reported as it was.
    private readonly ConcurrentDictionary<string, EcsAttemptStatus> _lastSeen = new(StringComparer.Ordinal);
    private volatile EcsNodeHealth _health = new();

    public EcsNode(EcsNodeOptions options, EcsClient ecs, TimeProvider time, ILogger<EcsNode> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
        _ecs = ecs;
        _time = time;
        _logger = logger;
    }

    public EcsNodeOptions Options { get; }
    public string Name => Options.Name;

    /// <summary>The last health check's answer (see <see cref="CheckHealthAsync"/>); a failed call also marks it.</summary>
    public EcsNodeHealth Health => _health;

    /// <summary>ECS's <c>startedBy</c> for an attempt: at most 36 letters, digits, <c>-</c>, <c>_</c> or <c>/</c>.</summary>
    public static string StartedBy(long jobId, int attempt) =>
        StartedBy($"{jobId.ToString(CultureInfo.InvariantCulture)}-{attempt.ToString(CultureInfo.InvariantCulture)}");

    /// <summary><c>drover-</c> and the attempt's reference (<c>&lt;job&gt;-&lt;attempt&gt;</c>), or a hash of it when that does not fit.</summary>
    public static string StartedBy(string attemptRef)
    {
        ArgumentNullException.ThrowIfNull(attemptRef);
        var plain = "drover-" + attemptRef;
        return plain.Length <= MaxStartedBy && plain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '/')
            ? plain
            : "drover-" + Hash(attemptRef)[..(MaxStartedBy - 7)];
    }

    /// <summary>The last part of a task ARN (<c>arn:aws:ecs:region:account:task/cluster/ID</c>), which names its log stream.</summary>
    public static string TaskId(string taskArn)
    {
        ArgumentNullException.ThrowIfNull(taskArn);
        return taskArn[(taskArn.LastIndexOf('/') + 1)..];
    }

    public string LogStreamName(string taskArn) => $"{Options.LogStreamPrefix}/{Options.ContainerName}/{TaskId(taskArn)}";

    /// <summary>
    /// RunTask with the job's command and environment as container overrides. A retried call with the same
    /// idempotency key gets the task the first call made. <c>failures</c> in the answer mean nothing was placed.
    /// </summary>
    public async Task<EcsStartResult> StartAsync(EcsStartRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        RunTaskResponse response;
        try
        {
            response = await RunTaskAsync(request, cancellationToken);
        }
        catch (AwsServiceException e) when (!e.IsTransient)
        {
            // ClusterNotFoundException, AccessDeniedException, ...: the node cannot start anything as configured.
            MarkUnhealthy(e);
            throw;
        }

        if (response.Tasks is [{ TaskArn: { } arn }, ..])
        {
            LogStarted(Name, request.Ref, arn);
            return new EcsStartResult(arn, null);
        }
        var failure = response.Failures is { Count: > 0 } failures
            ? string.Join("; ", failures.Select(f => string.IsNullOrEmpty(f.Detail) ? f.Reason : $"{f.Reason} ({f.Detail})"))
            : "RunTask started no task and gave no reason";
        LogPlacementFailed(Name, request.Ref, failure);
        return new EcsStartResult(null, failure);
    }

    private Task<RunTaskResponse> RunTaskAsync(EcsStartRequest request, CancellationToken cancellationToken)
    {
        var o = Options;
        return _ecs.RunTaskAsync(new RunTaskRequest
        {
            Cluster = o.Cluster,
            TaskDefinition = o.TaskDefinition,
            Count = 1,
            LaunchType = string.IsNullOrEmpty(o.LaunchType) ? null : o.LaunchType,
            NetworkConfiguration = o.Subnets.Count == 0 ? null : new NetworkConfiguration
            {
                AwsvpcConfiguration = new AwsVpcConfiguration
                {
                    Subnets = o.Subnets,
                    SecurityGroups = o.SecurityGroups.Count == 0 ? null : o.SecurityGroups,
                    AssignPublicIp = o.AssignPublicIp ? "ENABLED" : "DISABLED",
                },
            },
            Overrides = new TaskOverride
            {
                ContainerOverrides =
                [
                    new ContainerOverride
                    {
                        Name = o.ContainerName,
                        Command = EcsCommand.ToContainerCommand(request.Commands),
                        Environment = request.Environment.Count == 0
                            ? null
                            : request.Environment.Select(e => new KeyValuePair(e.Key, e.Value)).ToList(),
                    },
                ],
            },
            StartedBy = StartedBy(request.Ref),
            ClientToken = request.IdempotencyKey.Length <= MaxClientToken ? request.IdempotencyKey : Hash(request.IdempotencyKey),
        }, cancellationToken);
    }

    /// <summary>
    /// DescribeTasks in batches of 100. A task ECS answers MISSING is reported as last seen (or as not started,
    /// <c>queued</c>, if never seen) until the grace period ends, then as lost. A batch whose call fails is left out
    /// (and marks the node's health): the caller's poll goes on and asks again next time. Only cancellation throws.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, EcsAttemptStatus>> StatusAsync(
        IReadOnlyCollection<string> taskArns, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(taskArns);
        var result = new Dictionary<string, EcsAttemptStatus>(StringComparer.Ordinal);
        foreach (var batch in taskArns.Distinct(StringComparer.Ordinal).Chunk(DescribeBatch))
        {
            DescribeTasksResponse response;
            try
            {
                response = await _ecs.DescribeTasksAsync(new DescribeTasksRequest { Cluster = Options.Cluster, Tasks = batch }, cancellationToken);
            }
            catch (Exception e) when (e is AwsServiceException or HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                MarkUnhealthy(e);
                LogStatusFailed(e, Name, batch.Length);
                continue;
            }
            foreach (var task in response.Tasks ?? [])
            {
                if (task.TaskArn is null)
                    continue;
                _missingSince.TryRemove(task.TaskArn, out _);
                var mapped = Map(task);
                if (mapped.State == JobState.Stopped)
                    _lastSeen.TryRemove(task.TaskArn, out _);
                else
                    _lastSeen[task.TaskArn] = mapped;
                result[task.TaskArn] = mapped;
            }
            var now = _time.GetUtcNow();
            foreach (var failure in response.Failures ?? [])
            {
                if (failure.Arn is null || failure.Reason != "MISSING")
                {
                    LogTaskFailure(Name, failure.Arn, failure.Reason, failure.Detail);
                    continue;
                }
                var since = _missingSince.GetOrAdd(failure.Arn, now);
                if (now - since < Options.MissingGrace)
                {
                    result[failure.Arn] = _lastSeen.TryGetValue(failure.Arn, out var seen)
                        ? seen
                        : new EcsAttemptStatus { TaskArn = failure.Arn, State = JobState.Queued, LastStatus = "MISSING" };
                    continue;
                }
                _missingSince.TryRemove(failure.Arn, out _);
                _lastSeen.TryRemove(failure.Arn, out _);
                result[failure.Arn] = new EcsAttemptStatus
                {
                    TaskArn = failure.Arn,
                    State = JobState.Stopped,
                    Status = JobStatus.Error,
                    Reason = StopReason.NodeLost,
                    LastStatus = "MISSING",
                    FinishedAt = now,
                    Message = $"ECS no longer knows the task (MISSING since {since:O})",
                };
            }
        }
        return result;
    }

    /// <summary>ECS's words mapped onto Drover's: anything before STOPPED runs; STOPPED is good only with exit code 0.</summary>
    public EcsAttemptStatus Map(EcsTask task)
    {
        var container = task.Containers?.FirstOrDefault(c => c.Name == Options.ContainerName)
            ?? (task.Containers is [var only] ? only : null);
        var stopped = task.LastStatus == "STOPPED";
        var status = new EcsAttemptStatus
        {
            TaskArn = task.TaskArn!,
            LastStatus = task.LastStatus,
            CreatedAt = task.CreatedAt,
            StartedAt = task.StartedAt,
            FinishedAt = stopped ? task.StoppedAt ?? _time.GetUtcNow() : null,
            StopCode = task.StopCode,
            StoppedReason = task.StoppedReason,
            ExitCode = container?.ExitCode,
            State = stopped ? JobState.Stopped : JobState.Running,
            Status = JobStatus.Unknown,
        };
        if (!stopped)
            return status;
        if (container?.ExitCode == 0 && task.StopCode != "UserInitiated")
            return status with { Status = JobStatus.Good };

        var reason = task.StopCode switch
        {
            "UserInitiated" => StopReason.Killed,
            "TaskFailedToStart" => StopReason.PlacementFailed,
            _ when container?.ExitCode is not null => StopReason.ExitCode,
            _ => StopReason.NodeLost,
        };
        var why = string.Join(": ", new[] { task.StopCode, task.StoppedReason, container?.Reason }.Where(s => !string.IsNullOrEmpty(s)));
        return status with { Status = JobStatus.Error, Reason = reason, Message = why.Length == 0 ? null : why };
    }

    /// <summary>StopTask with the reason shown in the ECS console; answers the task as ECS then sees it.</summary>
    public async Task<EcsAttemptStatus?> KillAsync(string taskArn, string reason, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reason);
        var response = await _ecs.StopTaskAsync(new StopTaskRequest
        {
            Cluster = Options.Cluster,
            Task = taskArn,
            Reason = reason.Length <= MaxStopReason ? reason : reason[..MaxStopReason],
        }, cancellationToken);
        return response.Task is { TaskArn: not null } task ? Map(task) : null;
    }

    /// <summary>
    /// The tasks an attempt started (found by <c>startedBy</c>), running or stopped: after a crash between RunTask and
    /// recording its answer, this finds the task again instead of starting another.
    /// </summary>
    public Task<IReadOnlyList<string>> FindTasksAsync(long jobId, int attempt, CancellationToken cancellationToken) =>
        FindTasksAsync(StartedBy(jobId, attempt), cancellationToken);

    /// <summary>ListTasks by <c>startedBy</c>, running and stopped, every page.</summary>
    public Task<IReadOnlyList<string>> FindTasksAsync(string startedBy, CancellationToken cancellationToken) =>
        ListAsync(startedBy, cancellationToken);

    /// <summary>
    /// Every Drover task the cluster still lists (running, and stopped within about an hour), by <c>startedBy</c>:
    /// ListTasks and DescribeTasks a hundred at a time. Finding many attempts again after a restart costs a few
    /// calls this way, where asking for each by <c>startedBy</c> would cost two calls an attempt.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, string>> MapStartedByAsync(CancellationToken cancellationToken)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var task in await DescribeListedAsync(null, cancellationToken))
        {
            if (task is { TaskArn: { } arn, StartedBy: { } by })
                map.TryAdd(by, arn);
        }
        return map;
    }

    /// <summary>
    /// The Drover tasks (running, and stopped within about an hour) that ListTasks finds, all of them or those of one
    /// <c>startedBy</c>, described a hundred at a time.
    /// </summary>
    public async Task<IReadOnlyList<EcsTask>> DescribeListedAsync(string? startedBy, CancellationToken cancellationToken)
    {
        var tasks = new List<EcsTask>();
        foreach (var batch in (await ListAsync(startedBy, cancellationToken)).Chunk(DescribeBatch))
        {
            var response = await _ecs.DescribeTasksAsync(new DescribeTasksRequest { Cluster = Options.Cluster, Tasks = batch }, cancellationToken);
            tasks.AddRange((response.Tasks ?? []).Where(t => t.StartedBy?.StartsWith("drover-", StringComparison.Ordinal) == true));
        }
        return tasks;
    }

    private async Task<IReadOnlyList<string>> ListAsync(string? startedBy, CancellationToken cancellationToken)
    {
        var found = new List<string>();
        foreach (var desired in new[] { "RUNNING", "STOPPED" })
        {
            string? next = null;
            do
            {
                var page = await _ecs.ListTasksAsync(new ListTasksRequest
                {
                    Cluster = Options.Cluster,
                    StartedBy = startedBy,
                    DesiredStatus = desired,
                    NextToken = next,
                }, cancellationToken);
                found.AddRange(page.TaskArns ?? []);
                next = page.NextToken;
            }
            while (!string.IsNullOrEmpty(next));
        }
        return found;
    }

    /// <summary>
    /// The task's log from CloudWatch Logs (<c>&lt;prefix&gt;/&lt;container&gt;/&lt;task id&gt;</c>), paged with
    /// <c>nextForwardToken</c> until the same token comes back. Following keeps asking while the task runs, then
    /// reads once more after it stopped, for the lines the log driver sent last.
    /// </summary>
    public async IAsyncEnumerable<EcsLogLine> ReadLogAsync(
        string taskArn, bool follow, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var stream = LogStreamName(taskArn);
        string? token = null;
        var stopped = false;
        while (true)
        {
            GetLogEventsResponse page;
            try
            {
                page = await _ecs.GetLogEventsAsync(new GetLogEventsRequest
                {
                    LogGroupName = Options.LogGroup,
                    LogStreamName = stream,
                    NextToken = token,
                    StartFromHead = true,
                }, cancellationToken);
            }
            catch (AwsServiceException e) when (e.ErrorType == "ResourceNotFoundException")
            {
                // The stream appears when the container first writes; until then there is nothing to read.
                page = new GetLogEventsResponse { NextForwardToken = token };
            }
            foreach (var e in page.Events ?? [])
                yield return new EcsLogLine(DateTimeOffset.FromUnixTimeMilliseconds(e.Timestamp ?? 0), e.Message ?? "");

            if (page.NextForwardToken is { } next && next != token)
            {
                token = next;
                continue;
            }
            if (!follow || stopped)
                yield break;
            var status = await StatusAsync([taskArn], cancellationToken);
            stopped = status.TryGetValue(taskArn, out var s) && s.State == JobState.Stopped;
            if (!stopped)
                await Task.Delay(Options.LogPollInterval, _time, cancellationToken);
        }
    }

    /// <summary>DescribeClusters: healthy when the cluster is ACTIVE. Never throws but for cancellation.</summary>
    public async Task<EcsNodeHealth> CheckHealthAsync(CancellationToken cancellationToken)
    {
        EcsNodeHealth health;
        try
        {
            var response = await _ecs.DescribeClustersAsync(new DescribeClustersRequest { Clusters = [Options.Cluster] }, cancellationToken);
            var failure = response.Failures is [var first, ..] ? first.Reason : null;
            health = response.Clusters is [var cluster, ..]
                ? new EcsNodeHealth
                {
                    Healthy = cluster.Status == "ACTIVE",
                    Status = cluster.Status ?? "unknown",
                    Error = cluster.Status == "ACTIVE" ? null : $"cluster {Options.Cluster} is {cluster.Status}",
                    RunningTasks = cluster.RunningTasksCount,
                    PendingTasks = cluster.PendingTasksCount,
                }
                : new EcsNodeHealth
                {
                    Status = failure ?? "MISSING",
                    Error = $"ClusterNotFoundException: cluster {Options.Cluster} not found ({failure ?? "no answer"})",
                };
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException or InvalidOperationException
                                   || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            health = new EcsNodeHealth { Status = "error", Error = Describe(e) };
        }
        _health = health with { CheckedAt = _time.GetUtcNow() };
        return _health;
    }

    /// <summary>The node as <c>GET /scheduler/nodes</c> lists it.</summary>
    public NodeInfo Info(int running)
    {
        var labels = new Dictionary<string, string>(Options.Labels, StringComparer.Ordinal)
        {
            ["backend"] = "ecs",
            ["region"] = Options.Region,
            ["cluster"] = Options.Cluster,
        };
        var endpoint = Options.EndpointUrl ?? new Uri($"https://ecs.{Options.Region}.amazonaws.com/");
        return new NodeInfo
        {
            Name = Name,
            Hostname = endpoint.Host,
            Uri = endpoint.ToString(),
            Labels = labels,
            Slots = Options.Slots,
            Running = running,
            Features = [NodeFeatures.LogFollow, NodeFeatures.Slots],
        };
    }

    private void MarkUnhealthy(Exception e) =>
        _health = _health with { Healthy = false, Error = Describe(e), CheckedAt = _time.GetUtcNow() };

    private static string Describe(Exception e) => e switch
    {
        AwsServiceException aws => $"{aws.ErrorType}: {aws.AwsMessage}",
        OperationCanceledException => "timed out",
        _ => e.Message,
    };

    private static string Hash(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..MaxClientToken];

    [LoggerMessage(Level = LogLevel.Information, Message = "ECS node {Node}: {AttemptRef} started as {TaskArn}")]
    private partial void LogStarted(string node, string attemptRef, string taskArn);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ECS node {Node}: {AttemptRef} not placed: {Failure}")]
    private partial void LogPlacementFailed(string node, string attemptRef, string failure);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ECS node {Node}: DescribeTasks for {Count} tasks failed; asking again next poll")]
    private partial void LogStatusFailed(Exception error, string node, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ECS node {Node}: DescribeTasks failure for {TaskArn}: {Reason} {Detail}")]
    private partial void LogTaskFailure(string node, string? taskArn, string? reason, string? detail);
}
