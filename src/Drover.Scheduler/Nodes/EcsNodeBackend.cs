using System.Collections.Concurrent;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;
using Drover.Aws;
using Drover.Aws.Ecs;
using Drover.Aws.Http;
using Drover.Contracts;
using Drover.Scheduler.Storage;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Nodes;

/// <summary>
/// ECS clusters as nodes (<c>Aws:EcsNodes</c>, <see cref="NodeKind.Ecs"/>). The scheduler names an attempt by its
/// request id; ECS names its task by ARN, the attempt's node reference. The start returns the ARN and the scheduler
/// keeps it with the attempt in the start's own transaction; later calls hand it back (<see cref="NodeAttempt.NodeRef"/>).
/// Only a start whose answer was lost (a timeout, a crash before the ARN was saved) is found with ListTasks by
/// <c>startedBy</c>. RunTask carries the request id as <c>clientToken</c>, so a start sent again never makes a second task.
/// </summary>
internal sealed partial class EcsNodeBackend(EcsNodes ecs, TimeProvider time, ILogger<EcsNodeBackend> logger) : INodeBackend
{
    /// <summary>Past this many attempts to find again at once (a restart), the whole cluster is listed instead of each one.</summary>
    private const int FindOneByOne = 10;

    // ARNs of attempts not yet stopped, learnt from starts, from callers (the store's node_ref) and from ListTasks.
    private readonly ConcurrentDictionary<(string Node, string Ref), string> _arns = new();

    // Attempts seen started and not yet stopped, per node: the node's "running" in its info.
    private readonly ConcurrentDictionary<(string Node, string Ref), byte> _active = new();

    /// <summary>
    /// Adds the AWS part and this backend. Each ECS node also becomes a configured node of the scheduler, of kind
    /// <see cref="NodeKind.Ecs"/>, so placement, <c>GET /scheduler/nodes</c> and health checks treat it like any other.
    /// </summary>
    public static void Add(IServiceCollection services)
    {
        services.AddDroverAws();
        services.AddSingleton<EcsNodeBackend>();
        services.AddOptions<SchedulerOptions>().PostConfigure<IOptions<AwsOptions>>((scheduler, aws) =>
        {
            foreach (var node in aws.Value.EcsNodes.Where(n => scheduler.Nodes.All(s => s.Name != n.Name)))
            {
                var labels = new Dictionary<string, string>(node.Labels, StringComparer.Ordinal)
                {
                    ["backend"] = "ecs",
                    ["region"] = node.Region,
                    ["cluster"] = node.Cluster,
                };
                scheduler.Nodes.Add(new StaticNodeOptions
                {
                    Name = node.Name,
                    Uri = (node.EndpointUrl ?? new Uri($"https://ecs.{node.Region}.amazonaws.com/")).ToString(),
                    Labels = labels,
                    Kind = NodeKind.Ecs,
                });
            }
        });
    }

    public async Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken)
    {
        var cluster = Cluster(node);
        var health = await cluster.CheckHealthAsync(cancellationToken);
        if (!health.Healthy)
            throw new NodeUnreachableException($"ECS node {node.Name}: {health.Error}");
        return cluster.Info(_active.Keys.Count(k => k.Node == node.Name));
    }

    public async Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        var cluster = Cluster(node);
        if (files.Count > 0)
            return new StartResult(StartOutcome.Rejected, Detail: "an ECS node takes no uploaded files: its task has nowhere to receive them");
        var attemptRef = request.RequestId ?? throw new ArgumentException("the scheduler names every attempt", nameof(request));
        var (jobId, attempt) = AttemptRef.Parse(attemptRef) ?? throw new ArgumentException($"'{attemptRef}' is not <job>-<attempt>", nameof(request));
        try
        {
            var started = await cluster.StartAsync(new EcsStartRequest
            {
                JobId = jobId,
                Attempt = attempt,
                AttemptRef = attemptRef,
                IdempotencyKey = attemptRef,
                Commands = request.Commands,
                Environment = request.Environment,
            }, cancellationToken);
            if (started.TaskArn is not { } arn)
                return new StartResult(StartOutcome.Rejected, Detail: $"ECS placement failed: {started.PlacementFailure}");
            _active[(node.Name, attemptRef)] = 0;
            _arns[(node.Name, attemptRef)] = arn;
            return new StartResult(StartOutcome.Started, new NodeJobStatus
            {
                RequestId = attemptRef,
                State = JobState.Queued,
                CreatedAt = time.GetUtcNow(),
            }, NodeRef: arn);
        }
        catch (AwsServiceException e)
        {
            LogStartFailed(node.Name, attemptRef, e.ErrorType, e.AwsMessage);
            // Throttled, failed past the retries, or an answer that could not be read: RunTask may have run; the follower
            // asks again (idempotent by clientToken).
            // Any other error (ClusterNotFoundException, AccessDeniedException, a bad override) is ECS's answer to this
            // attempt: it fails with ECS's words as its reason, and the job's retries decide what comes next.
            return e.IsTransient || e.ErrorType == "InvalidResponse"
                ? new StartResult(StartOutcome.Unknown, Detail: $"{e.ErrorType}: {e.AwsMessage}")
                : new StartResult(StartOutcome.Rejected, Detail: $"ECS RunTask failed: {e.ErrorType}: {e.AwsMessage}");
        }
        catch (Exception e) when (e is HttpRequestException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return new StartResult(StartOutcome.Unknown, Detail: e.Message);
        }
    }

    public async Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<NodeAttempt> attempts, CancellationToken cancellationToken)
    {
        var cluster = Cluster(node);
        Recall(node.Name, attempts);
        var requestIds = attempts.Select(a => a.RequestId).ToList();
        var unknown = requestIds.Where(r => !_arns.ContainsKey((node.Name, r))).ToList();
        var listed = unknown.Count > FindOneByOne;
        if (listed)
            await ResolveManyAsync(cluster, unknown, cancellationToken);
        var refs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attempt in attempts)
        {
            // After a listing of the whole cluster, an attempt not in it has no task: asking again one by one would not find one.
            var attemptRef = attempt.RequestId;
            var arn = listed ? _arns.GetValueOrDefault((node.Name, attemptRef)) : await ResolveAsync(cluster, attemptRef, cancellationToken);
            if (arn is not null)
                refs[arn] = attemptRef;
            attempt.NodeRef ??= arn; // found by startedBy: back to the caller, for the store
        }
        if (refs.Count == 0)
            return [];
        var statuses = await cluster.StatusAsync(refs.Keys, cancellationToken);
        // A task left out is one whose DescribeTasks call failed: not lost, just not known this time.
        if (statuses.Count < refs.Count)
            throw new NodeUnreachableException($"ECS node {node.Name}: DescribeTasks failed: {cluster.Health.Error}");
        var answer = new List<NodeJobStatus>(statuses.Count);
        foreach (var (arn, status) in statuses)
        {
            var attemptRef = refs[arn];
            if (status.State == JobState.Stopped)
            {
                _active.TryRemove((node.Name, attemptRef), out _);
                _arns.TryRemove((node.Name, attemptRef), out _);
            }
            else
                _active[(node.Name, attemptRef)] = 0;
            answer.Add(status.ToNodeJobStatus(attemptRef));
        }
        return answer;
    }

    public async Task<NodeJobStatus?> KillAsync(NodeTarget node, NodeAttempt attempt, CancellationToken cancellationToken)
    {
        var cluster = Cluster(node);
        Recall(node.Name, [attempt]);
        var requestId = attempt.RequestId;
        if (await ResolveAsync(cluster, requestId, cancellationToken) is not { } arn)
            return null;
        attempt.NodeRef ??= arn;
        try
        {
            var status = await cluster.KillAsync(arn, $"stopped by Drover (attempt {requestId})", cancellationToken);
            return status?.ToNodeJobStatus(requestId);
        }
        catch (AwsServiceException e) when (e.ErrorType == "InvalidParameterException")
        {
            return null; // "The referenced task was not found."
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException)
        {
            throw new NodeUnreachableException($"ECS node {node.Name}: StopTask failed: {e.Message}", e);
        }
    }

    public async Task<Stream?> OpenLogAsync(NodeTarget node, NodeAttempt attempt, long offset, bool follow, CancellationToken cancellationToken)
    {
        var cluster = Cluster(node);
        Recall(node.Name, [attempt]); // a stopped attempt's ARN is no longer kept here: the caller has it from the store
        if (await ResolveAsync(cluster, attempt.RequestId, cancellationToken) is not { } arn)
            return null;
        var pipe = new Pipe();
        _ = Task.Run(() => CopyLogAsync(cluster, arn, offset, follow, pipe.Writer, cancellationToken), CancellationToken.None);
        return pipe.Reader.AsStream();
    }

    /// <summary>CloudWatch Logs keeps lines, not bytes: each line gets its newline back, and the offset counts those bytes.</summary>
    private async Task CopyLogAsync(EcsNode cluster, string arn, long offset, bool follow, PipeWriter writer, CancellationToken cancellationToken)
    {
        Exception? error = null;
        try
        {
            var skip = offset;
            await foreach (var line in cluster.ReadLogAsync(arn, follow, cancellationToken))
            {
                ReadOnlyMemory<byte> bytes = Encoding.UTF8.GetBytes(line.Message + "\n");
                if (skip > 0)
                {
                    var cut = (int)Math.Min(skip, bytes.Length);
                    skip -= cut;
                    bytes = bytes[cut..];
                    if (bytes.IsEmpty)
                        continue;
                }
                if ((await writer.WriteAsync(bytes, cancellationToken)).IsCompleted)
                    break; // the reader has gone
            }
        }
        catch (OperationCanceledException)
        {
            // The caller went away.
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException)
        {
            LogLogFailed(arn, e.Message);
            error = e;
        }
        await writer.CompleteAsync(error);
    }

    /// <summary>Many attempts to find again at once (after a restart): one listing of the cluster instead of one per attempt.</summary>
    private async Task ResolveManyAsync(EcsNode cluster, IReadOnlyList<string> attemptRefs, CancellationToken cancellationToken)
    {
        IReadOnlyDictionary<string, string> byStartedBy;
        try
        {
            byStartedBy = await cluster.MapStartedByAsync(cancellationToken);
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException)
        {
            throw new NodeUnreachableException($"ECS node {cluster.Name}: listing its tasks failed: {e.Message}", e);
        }
        foreach (var attemptRef in attemptRefs)
        {
            if (byStartedBy.TryGetValue(EcsNode.StartedBy(attemptRef), out var arn))
                _arns[(cluster.Name, attemptRef)] = arn;
        }
    }

    /// <summary>
    /// The attempt's task: known (from its start, or handed over by the caller from the store), or found by
    /// <c>startedBy</c> (a start whose answer was lost). Null when ECS has none.
    /// </summary>
    private async Task<string?> ResolveAsync(EcsNode cluster, string attemptRef, CancellationToken cancellationToken)
    {
        if (_arns.TryGetValue((cluster.Name, attemptRef), out var known))
            return known;
        IReadOnlyList<string> found;
        try
        {
            found = await cluster.FindTasksAsync(EcsNode.StartedBy(attemptRef), cancellationToken);
        }
        catch (Exception e) when (e is AwsServiceException or HttpRequestException)
        {
            throw new NodeUnreachableException($"ECS node {cluster.Name}: ListTasks failed: {e.Message}", e);
        }
        if (found.Count == 0)
            return null;
        _arns[(cluster.Name, attemptRef)] = found[0];
        return found[0];
    }

    /// <summary>Takes the ARNs the caller has from the store (after a restart, or of a stopped attempt).</summary>
    private void Recall(string node, IReadOnlyList<NodeAttempt> attempts)
    {
        foreach (var attempt in attempts)
            if (attempt.NodeRef is { } arn)
                _arns.TryAdd((node, attempt.RequestId), arn);
    }

    private EcsNode Cluster(NodeTarget node) =>
        ecs.Find(node.Name) ?? throw new NodeUnreachableException($"node {node.Name} is of kind ECS, but no ECS cluster of that name is configured (Aws:EcsNodes)");

    [LoggerMessage(Level = LogLevel.Warning, Message = "ECS node {Node}: starting {AttemptRef} failed: {ErrorType}: {Detail}")]
    private partial void LogStartFailed(string node, string attemptRef, string errorType, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the log of {TaskArn} failed: {Detail}")]
    private partial void LogLogFailed(string taskArn, string detail);
}
