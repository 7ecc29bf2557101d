using System.Collections.Concurrent;
using System.Globalization;
using Drover.Aws.Ecs;
using EcsCluster = Drover.Aws.Ecs.EcsNode;
using Drover.Contracts;
using Microsoft.Extensions.Options;

namespace Drover.EcsService.Jobs;

/// <summary>One job of this node: the ECS task that runs it, and what ECS cannot keep for us.</summary>
internal sealed class EcsJob(string requestId, string taskArn, DateTimeOffset createdAt, double? timeoutSeconds)
{
    public string RequestId { get; } = requestId;
    public string TaskArn { get; } = taskArn;
    public DateTimeOffset CreatedAt { get; } = createdAt;
    public double? TimeoutSeconds { get; } = timeoutSeconds;

    /// <summary>The last progress message; kept in memory only (ECS has no place for it), so a restart forgets it.</summary>
    public volatile string? Message;

    /// <summary>What ECS last said, in the protocol's shape; null until the first answer.</summary>
    public volatile NodeJobStatus? Last;

    public bool Stopped => Last?.State == JobState.Stopped;

    public DateTimeOffset? Deadline => TimeoutSeconds is { } t ? CreatedAt + TimeSpan.FromSeconds(t) : null;
}

/// <summary>Why <see cref="EcsJobs.StartAsync"/> answered as it did.</summary>
internal enum StartOutcome { Created, Existing, SlotsFull, PlacementFailed }

internal sealed record StartAnswer(StartOutcome Outcome, NodeJobStatus? Status = null, string? Failure = null);

/// <summary>
/// The node's jobs over one ECS cluster. ECS is the store: a job is a task whose <c>startedBy</c> is made from its
/// request id and whose container environment carries <c>DROVER_REQUEST_ID</c> (and <c>DROVER_TIMEOUT_SECONDS</c>),
/// so a restarted service finds every job again by asking ECS. Only progress messages live in memory.
/// </summary>
internal sealed partial class EcsJobs(EcsNodes nodes, IOptions<EcsNodeServiceOptions> options, TimeProvider time, ILogger<EcsJobs> logger)
{
    public const string RequestIdVariable = "DROVER_REQUEST_ID";
    public const string TimeoutVariable = "DROVER_TIMEOUT_SECONDS";

    // StopTask reasons this node gives; the status of a task stopped with one of them says why.
    private const string KilledReason = "Drover: killed";
    private const string TimedOutReason = "Drover: timed out";

    private readonly ConcurrentDictionary<string, EcsJob> _jobs = new(StringComparer.Ordinal);

    // Starts in flight, by request id: two identical requests at once make one RunTask, and both answer its task.
    private readonly ConcurrentDictionary<string, Task<EcsJob?>> _starting = new(StringComparer.Ordinal);

    // Starts that hold a slot but have no task yet: counted with the running jobs, so two starts at once cannot overbook.
    private readonly Lock _slotGate = new();
    private int _reserved;

    // Read at first use: options are validated (exactly one cluster) when the host starts, after this is built.
    public EcsCluster Cluster => field ??= nodes.All.Single();

    public int Running => _jobs.Values.Count(j => !j.Stopped);

    public IEnumerable<EcsJob> Unfinished => _jobs.Values.Where(j => !j.Stopped);

    /// <summary>RunTask for a new request id; the job already there for a known one. Nothing is started for a full node.</summary>
    public async Task<StartAnswer> StartAsync(NodeJobRequest spec, CancellationToken cancellationToken)
    {
        var id = spec.RequestId!;
        if (await FindAsync(id, cancellationToken) is { } known)
            return new StartAnswer(StartOutcome.Existing, await StatusAsync(known, cancellationToken));

        var mine = new TaskCompletionSource<EcsJob?>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = _starting.GetOrAdd(id, mine.Task);
        if (pending != mine.Task)
        {
            return await pending is { } other
                ? new StartAnswer(StartOutcome.Existing, await StatusAsync(other, cancellationToken))
                : await StartAsync(spec, cancellationToken);
        }
        if (!TryReserve())
        {
            _starting.TryRemove(new KeyValuePair<string, Task<EcsJob?>>(id, mine.Task));
            mine.SetResult(null);
            return new StartAnswer(StartOutcome.SlotsFull);
        }
        try
        {
            var environment = new Dictionary<string, string>(spec.Environment, StringComparer.Ordinal) { [RequestIdVariable] = id };
            if (spec.TimeoutSeconds is { } timeout)
                environment[TimeoutVariable] = timeout.ToString("R", CultureInfo.InvariantCulture);
            var started = await Cluster.StartAsync(new EcsStartRequest
            {
                AttemptRef = id,
                IdempotencyKey = id,
                Commands = spec.Commands,
                Environment = environment,
            }, cancellationToken);
            if (started.TaskArn is not { } arn)
            {
                mine.SetResult(null);
                return new StartAnswer(StartOutcome.PlacementFailed, Failure: started.PlacementFailure);
            }
            var job = _jobs.GetOrAdd(id, new EcsJob(id, arn, time.GetUtcNow(), spec.TimeoutSeconds));
            job.Last ??= new NodeJobStatus { RequestId = id, State = JobState.Queued, Status = JobStatus.Unknown, CreatedAt = job.CreatedAt };
            mine.SetResult(job);
            return new StartAnswer(StartOutcome.Created, job.Last);
        }
        catch (Exception e)
        {
            mine.TrySetException(e);
            throw;
        }
        finally
        {
            lock (_slotGate)
                _reserved--;
            _starting.TryRemove(new KeyValuePair<string, Task<EcsJob?>>(id, mine.Task));
        }
    }

    private bool TryReserve()
    {
        lock (_slotGate)
        {
            if (Running + _reserved >= Cluster.Options.Slots)
                return false;
            _reserved++;
            return true;
        }
    }

    /// <summary>Whether every task ECS still lists has been taken back since the service started.</summary>
    public bool Recovered { get; private set; }

    /// <summary>
    /// The job of a request id: from memory; until recovery has read the cluster back, also found in ECS by its
    /// <c>startedBy</c>, so that a request repeated right after a restart never starts a second task.
    /// </summary>
    public async Task<EcsJob?> FindAsync(string requestId, CancellationToken cancellationToken)
    {
        if (_jobs.TryGetValue(requestId, out var job))
            return job;
        if (Recovered || !JobRules.IsSafeName(requestId))
            return null;
        foreach (var task in await Cluster.DescribeListedAsync(EcsCluster.StartedBy(requestId), cancellationToken))
        {
            if (Adopt(task) is { } found && found.RequestId == requestId)
                return found;
        }
        return null;
    }

    /// <summary>Every Drover task the cluster still lists, taken back after a restart.</summary>
    public async Task<int> RecoverAsync(CancellationToken cancellationToken)
    {
        var tasks = await Cluster.DescribeListedAsync(null, cancellationToken);
        var adopted = tasks.Count(t => Adopt(t) is not null);
        Recovered = true;
        return adopted;
    }

    private EcsJob? Adopt(EcsTask task)
    {
        var environment = task.Overrides?.ContainerOverrides?
            .FirstOrDefault(c => c.Name == Cluster.Options.ContainerName)?.Environment ?? [];
        var id = environment.FirstOrDefault(e => e.Name == RequestIdVariable)?.Value;
        if (task.TaskArn is null || id is null || !JobRules.IsSafeName(id))
            return null;
        var timeout = environment.FirstOrDefault(e => e.Name == TimeoutVariable)?.Value is { } t
            && double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) ? seconds : (double?)null;
        var job = _jobs.GetOrAdd(id, _ => new EcsJob(id, task.TaskArn, task.CreatedAt ?? time.GetUtcNow(), timeout));
        job.Last ??= ToStatus(job, Cluster.Map(task));
        return job;
    }

    public IReadOnlyCollection<EcsJob> All => [.. _jobs.Values];

    public async Task<NodeJobStatus> StatusAsync(EcsJob job, CancellationToken cancellationToken) =>
        (await StatusAsync([job], cancellationToken))[0];

    /// <summary>
    /// DescribeTasks for the jobs not known to have stopped, a hundred a call. A job whose batch failed is answered
    /// as ECS last told it: the caller's next poll asks again.
    /// </summary>
    public async Task<IReadOnlyList<NodeJobStatus>> StatusAsync(IReadOnlyList<EcsJob> jobs, CancellationToken cancellationToken)
    {
        var ask = jobs.Where(j => !j.Stopped).Select(j => j.TaskArn).ToList();
        var seen = ask.Count == 0 ? new Dictionary<string, EcsAttemptStatus>() : await Cluster.StatusAsync(ask, cancellationToken);
        var answers = new List<NodeJobStatus>(jobs.Count);
        foreach (var job in jobs)
        {
            if (seen.TryGetValue(job.TaskArn, out var status))
                job.Last = ToStatus(job, status);
            var last = job.Last ?? new NodeJobStatus { RequestId = job.RequestId, State = JobState.Running, CreatedAt = job.CreatedAt };
            answers.Add(job.Message is { } message ? last with { Message = message } : last);
        }
        return answers;
    }

    /// <summary>ECS's answer in the protocol's words: a stop this node asked for says whether it was a kill or a timeout.</summary>
    private static NodeJobStatus ToStatus(EcsJob job, EcsAttemptStatus seen)
    {
        var status = seen.ToNodeJobStatus(job.RequestId) with { CreatedAt = job.CreatedAt };
        if (seen.State != JobState.Stopped)
        {
            // PROVISIONING, PENDING, ACTIVATING: accepted, not started yet.
            var started = seen.LastStatus is "RUNNING" or "DEACTIVATING" or "STOPPING" or "DEPROVISIONING";
            return status with { State = started ? JobState.Running : JobState.Queued, ExitCode = null };
        }
        if (seen.StopCode == "UserInitiated")
        {
            var timedOut = seen.StoppedReason?.StartsWith(TimedOutReason, StringComparison.Ordinal) == true;
            return status with
            {
                Status = JobStatus.Error,
                Reason = timedOut ? StopReason.TimedOut : StopReason.Killed,
                ExitCode = null,
                Message = timedOut ? seen.StoppedReason : null,
            };
        }
        // A container that could not start (no such program in the image) failed like a command that exited non-zero.
        return seen.Reason is StopReason.PlacementFailed ? status with { Reason = StopReason.ExitCode } : status;
    }

    /// <summary>StopTask, then wait until ECS says the task stopped. A stopped job is answered as it is.</summary>
    public Task<NodeJobStatus> KillAsync(EcsJob job, CancellationToken cancellationToken) =>
        StopAsync(job, KilledReason, cancellationToken);

    private async Task<NodeJobStatus> StopAsync(EcsJob job, string reason, CancellationToken cancellationToken)
    {
        var status = await StatusAsync(job, cancellationToken);
        if (status.State == JobState.Stopped)
            return status;
        await Cluster.KillAsync(job.TaskArn, reason, cancellationToken);
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        wait.CancelAfter(options.Value.KillWait);
        try
        {
            while ((status = await StatusAsync(job, wait.Token)).State != JobState.Stopped)
                await Task.Delay(TimeSpan.FromMilliseconds(100), time, wait.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            LogStopSlow(job.RequestId, job.TaskArn);
        }
        return status;
    }

    /// <summary>Stops every running job past its deadline, as a kill with the reason <c>timed_out</c>.</summary>
    public async Task StopOverdueAsync(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        foreach (var job in Unfinished.Where(j => j.Deadline <= now).ToList())
        {
            var timeout = job.TimeoutSeconds!.Value.ToString(CultureInfo.InvariantCulture);
            await Cluster.KillAsync(job.TaskArn, $"{TimedOutReason} after {timeout} s", cancellationToken);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {RequestId} (task {TaskArn}) was told to stop but ECS does not report it stopped yet")]
    private partial void LogStopSlow(string requestId, string taskArn);
}
