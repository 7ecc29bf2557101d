namespace Drover.Contracts;

/// <summary><c>GET /scheduler/jobs/summary</c>: what the dashboard's overview shows.</summary>
public sealed record JobSummary
{
    public DateTimeOffset At { get; init; }

    /// <summary>Jobs by state and status; every state and status appears, with 0 when there are none.</summary>
    public IReadOnlyDictionary<string, long> ByState { get; init; } = new Dictionary<string, long>();
    public IReadOnlyDictionary<string, long> ByStatus { get; init; } = new Dictionary<string, long>();
    public long Total { get; init; }

    /// <summary>Jobs queued and not yet placed.</summary>
    public long QueueDepth { get; init; }

    /// <summary>The last <see cref="Minutes"/> minutes, oldest first: jobs submitted and jobs stopped in each.</summary>
    public int Minutes { get; init; }
    public IReadOnlyList<long> SubmittedPerMinute { get; init; } = [];
    public IReadOnlyList<long> FinishedPerMinute { get; init; } = [];

    /// <summary>The latest jobs that stopped in error, newest first, with their reasons.</summary>
    public IReadOnlyList<JobStatusView> RecentFailures { get; init; } = [];
}
