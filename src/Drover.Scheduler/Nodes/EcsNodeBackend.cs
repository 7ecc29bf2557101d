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
/// ECS clusters as nodes (<c>Aws:EcsNodes</c>): calls for those nodes go to ECS, every other call to the node protocol.
/// The scheduler names an attempt <c>&lt;job&gt;-&lt;attempt&gt;</c>; ECS names its task by ARN, the attempt's node
/// reference, recorded in the store as soon as RunTask answers and read from there after a restart. Only a start whose
/// answer was lost (a timeout, a crash before the ARN was written) is found with ListTasks by <c>startedBy</c>. RunTask
/// carries the attempt's name as <c>clientToken</c>, so a start sent again never makes a second task.
/// </summary>
internal sealed partial class EcsNodeBackend(
    ProcessorNodeBackend processors, EcsNodes ecs, IJobStore store, TimeProvider time, ILogger<EcsNodeBackend> logger) : INodeBackend
{
    /// <summary>Past this many attempts to find again at once (a restart), the whole cluster is listed instead of each one.</summary>
    private const int FindOneByOne = 10;

    // ARNs of attempts not yet stopped (a stopped one's is read from the store when its log is asked for).
    private readonly ConcurrentDictionary<(string Node, string Ref), string> _arns = new();

    // Attempts seen started and not yet stopped, per node: the node's "running" in its info.
    private readonly ConcurrentDictionary<(string Node, string Ref), byte> _active = new();

    /// <summary>
    /// Adds the AWS part and puts this backend in front of the node protocol. Each ECS node also becomes a configured
    /// node of the scheduler, so placement, <c>GET /scheduler/nodes</c> and health checks treat it like any other.
    /// </summary>
    public static void Add(IServiceCollection services)
    {
        services.AddDroverAws();
        services.AddSingleton<ProcessorNodeBackend>();
        services.AddSingleton<INodeBackend, EcsNodeBackend>();
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
                });
            }
        });
    }

    public async Task<NodeInfo> GetInfoAsync(NodeTarget node, CancellationToken cancellationToken)
    {
        if (ecs.Find(node.Name) is not { } cluster)
            return await processors.GetInfoAsync(node, cancellationToken);
        var health = await cluster.CheckHealthAsync(cancellationToken);
        if (!health.Healthy)
            throw new NodeUnreachableException($"ECS node {node.Name}: {health.Error}");
        return cluster.Info(_active.Keys.Count(k => k.Node == node.Name));
    }

    public async Task<StartResult> StartAsync(NodeTarget node, NodeJobRequest request, IReadOnlyList<string> files, CancellationToken cancellationToken)
    {
        if (ecs.Find(node.Name) is not { } cluster)
            return await processors.StartAsync(node, request, files, cancellationToken);
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
            await RememberAsync(node.Name, attemptRef, arn, cancellationToken);
            return new StartResult(StartOutcome.Started, new NodeJobStatus
            {
                RequestId = attemptRef,
                State = JobState.Queued,
                CreatedAt = time.GetUtcNow(),
            });
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

    public async Task<IReadOnlyList<NodeJobStatus>> GetStatusAsync(NodeTarget node, IReadOnlyList<string> requestIds, CancellationToken cancellationToken)
    {
        if (ecs.Find(node.Name) is not { } cluster)
            return await processors.GetStatusAsync(node, requestIds, cancellationToken);
        var unknown = requestIds.Where(r => !_arns.ContainsKey((node.Name, r))).ToList();
        if (unknown.Count > 0)
            unknown = await RecallAsync(node.Name, unknown, cancellationToken);
        var listed = unknown.Count > FindOneByOne;
        if (listed)
            await ResolveManyAsync(cluster, unknown, cancellationToken);
        var refs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var attemptRef in requestIds)
        {
            // After a listing of the whole cluster, an attempt not in it has no task: asking again one by one would not find one.
            var arn = listed ? _arns.GetValueOrDefault((node.Name, attemptRef)) : await ResolveAsync(cluster, attemptRef, cancellationToken);
            if (arn is not null)
                refs[arn] = attemptRef;
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

    public async Task<NodeJobStatus?> KillAsync(NodeTarget node, string requestId, CancellationToken cancellationToken)
    {
        if (ecs.Find(node.Name) is not { } cluster)
            return await processors.KillAsync(node, requestId, cancellationToken);
        if (await ResolveAsync(cluster, requestId, cancellationToken) is not { } arn)
            return null;
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

    public async Task<Stream?> OpenLogAsync(NodeTarget node, string requestId, long offset, bool follow, CancellationToken cancellationToken)
    {
        if (ecs.Find(node.Name) is not { } cluster)
            return await processors.OpenLogAsync(node, requestId, offset, follow, cancellationToken);
        if (await ResolveAsync(cluster, requestId, cancellationToken) is not { } arn)
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
                await RememberAsync(cluster.Name, attemptRef, arn, cancellationToken);
        }
    }

    /// <summary>
    /// The attempt's task: known in memory, recorded in the store, or found by <c>startedBy</c> (a start whose answer
    /// was lost). Null when ECS has none.
    /// </summary>
    private async Task<string?> ResolveAsync(EcsNode cluster, string attemptRef, CancellationToken cancellationToken)
    {
        if (_arns.TryGetValue((cluster.Name, attemptRef), out var known))
            return known;
        await RecallAsync(cluster.Name, [attemptRef], cancellationToken);
        if (_arns.TryGetValue((cluster.Name, attemptRef), out known))
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
        await RememberAsync(cluster.Name, attemptRef, found[0], cancellationToken);
        return found[0];
    }

    /// <summary>Reads the recorded ARNs of these attempts into memory; answers those the store has none for.</summary>
    private async Task<List<string>> RecallAsync(string node, IReadOnlyList<string> attemptRefs, CancellationToken cancellationToken)
    {
        var keys = attemptRefs.Select(AttemptRef.Parse).OfType<(long, int)>().ToList();
        var recorded = await store.GetNodeRefsAsync(node, keys, cancellationToken);
        var missing = new List<string>();
        foreach (var attemptRef in attemptRefs)
        {
            if (recorded.TryGetValue(attemptRef, out var arn))
                _arns[(node, attemptRef)] = arn;
            else
                missing.Add(attemptRef);
        }
        return missing;
    }

    /// <summary>
    /// The ARN goes to the store before the start is reported, so a restart finds it there. A failed write is not a
    /// failed start: the task runs, and <c>startedBy</c> finds it again.
    /// </summary>
    private async Task RememberAsync(string node, string attemptRef, string arn, CancellationToken cancellationToken)
    {
        _arns[(node, attemptRef)] = arn;
        if (AttemptRef.Parse(attemptRef) is not var (jobId, number))
            return;
        try
        {
            await store.SetNodeRefAsync(jobId, number, arn, cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogRecordFailed(e, attemptRef, arn);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recording task {TaskArn} of {AttemptRef} failed; it will be found by startedBy")]
    private partial void LogRecordFailed(Exception error, string attemptRef, string taskArn);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ECS node {Node}: starting {AttemptRef} failed: {ErrorType}: {Detail}")]
    private partial void LogStartFailed(string node, string attemptRef, string errorType, string detail);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the log of {TaskArn} failed: {Detail}")]
    private partial void LogLogFailed(string taskArn, string detail);
}
