using System.Globalization;
using Drover.Contracts;

namespace Drover.Aws.Ecs;

/// <summary>What one attempt asks ECS to run.</summary>
public sealed record EcsStartRequest
{
    public long JobId { get; init; }
    public int Attempt { get; init; }

    /// <summary>The scheduler's name for the attempt (<c>&lt;job&gt;-&lt;attempt&gt;</c>); when given, <c>startedBy</c> is made from it.</summary>
    public string? AttemptRef { get; init; }

    /// <summary>The attempt's reference, made from the job and attempt numbers when none was given.</summary>
    public string Ref => AttemptRef ?? $"{JobId.ToString(CultureInfo.InvariantCulture)}-{Attempt.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>The attempt's idempotency key, sent as RunTask's <c>clientToken</c>: a retried call makes no second task.</summary>
    public required string IdempotencyKey { get; init; }
    public required IReadOnlyList<CommandSpec> Commands { get; init; }
    public IReadOnlyDictionary<string, string> Environment { get; init; } = new Dictionary<string, string>();
}

/// <summary>A started task (<see cref="TaskArn"/>, the attempt's backend reference) or why ECS placed none.</summary>
public sealed record EcsStartResult(string? TaskArn, string? PlacementFailure)
{
    public bool Started => TaskArn is not null;
}

/// <summary>An attempt's task as Drover sees it, with ECS's own words kept beside.</summary>
public sealed record EcsAttemptStatus
{
    public required string TaskArn { get; init; }
    public JobState State { get; init; }
    public JobStatus Status { get; init; }
    public StopReason? Reason { get; init; }
    public int? ExitCode { get; init; }
    public DateTimeOffset? CreatedAt { get; init; }
    public DateTimeOffset? StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }

    /// <summary>ECS's <c>lastStatus</c> (<c>PROVISIONING</c> ... <c>STOPPED</c>), or <c>MISSING</c>.</summary>
    public string? LastStatus { get; init; }
    public string? StopCode { get; init; }
    public string? StoppedReason { get; init; }
    public string? Message { get; init; }

    /// <summary>The same facts in the node protocol's shape, for a scheduler that treats every node alike.</summary>
    public NodeJobStatus ToNodeJobStatus(string requestId) => new()
    {
        RequestId = requestId,
        State = State,
        Status = Status,
        Reason = Reason,
        ExitCode = ExitCode,
        CreatedAt = CreatedAt ?? DateTimeOffset.UnixEpoch,
        StartedAt = StartedAt,
        FinishedAt = FinishedAt,
        Message = Message,
    };
}

/// <summary>The cluster's health as DescribeClusters last told it.</summary>
public sealed record EcsNodeHealth
{
    public bool Healthy { get; init; }

    /// <summary>The cluster's status (<c>ACTIVE</c>, ...), <c>MISSING</c>, or <c>unknown</c> before the first check.</summary>
    public string Status { get; init; } = "unknown";
    public string? Error { get; init; }
    public int RunningTasks { get; init; }
    public int PendingTasks { get; init; }
    public DateTimeOffset? CheckedAt { get; init; }
}

public sealed record EcsLogLine(DateTimeOffset Timestamp, string Message);
