using System.Text.Json;
using Drover.Contracts;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>The store keeps states and reasons as the API's snake_case words; this maps them both ways.</summary>
internal static class Wire
{
    public static string Word<T>(T value) where T : struct, Enum => Words<T>.ToWord[value];

    public static bool TryParse<T>(string? word, out T value) where T : struct, Enum =>
        Words<T>.FromWord.TryGetValue(word ?? "", out value);

    public static T? ParseOptional<T>(string? word) where T : struct, Enum =>
        word is null ? null : Words<T>.FromWord.TryGetValue(word, out var value) ? value : null;

    public static long Millis(DateTimeOffset time) => time.ToUnixTimeMilliseconds();

    public static DateTimeOffset Time(long millis) => DateTimeOffset.FromUnixTimeMilliseconds(millis);

    public static DateTimeOffset? Time(long? millis) => millis is { } m ? DateTimeOffset.FromUnixTimeMilliseconds(m) : null;

    public static DependencyCondition Condition(string word) => Enum.Parse<DependencyCondition>(word, ignoreCase: true);

    public static JobSpec Spec(string json) => JsonSerializer.Deserialize<JobSpec>(json, DroverJson.Options)!;

    public static JobStatusView StatusView(JobRow job) => new()
    {
        JobId = job.Id,
        RequestId = job.RequestId,
        State = job.State,
        Status = job.Status,
        Reason = ParseOptional<StopReason>(job.Reason),
        LastReason = ParseOptional<StopReason>(job.LastReason),
        Node = job.Node,
        CreatedAt = Time(job.CreatedAt),
        StartedAt = Time(job.StartedAt),
        FinishedAt = Time(job.FinishedAt),
        ExitCode = (int?)job.ExitCode,
        Attempts = (int)job.Attempts,
        Parent = job.Parent,
        Message = job.Message,
        QueueReason = job.State == JobState.Queued ? job.QueueReason : null,
    };

    public static JobRecord Record(JobRow job, IReadOnlyList<AttemptRow> attempts, IReadOnlyList<long> children) => new()
    {
        Id = job.Id,
        RequestId = job.RequestId,
        State = job.State,
        Status = job.Status,
        Reason = ParseOptional<StopReason>(job.Reason),
        LastReason = attempts.Count > 0 ? ParseOptional<StopReason>(attempts[^1].Reason) : null,
        Node = job.Node,
        ExitCode = (int?)job.ExitCode,
        Priority = (int)job.Priority,
        MaxAttempts = (int)job.MaxAttempts,
        Parent = job.Parent,
        Children = children,
        CreatedAt = Time(job.CreatedAt),
        UpdatedAt = Time(job.UpdatedAt),
        FinishedAt = Time(job.FinishedAt),
        QueueReason = job.State == JobState.Queued ? job.QueueReason : null,
        Spec = Spec(job.Spec),
        TraceId = job.TraceParent is { } trace && System.Diagnostics.ActivityContext.TryParse(trace, null, out var context)
            ? context.TraceId.ToHexString()
            : null,
        Attempts = attempts.Select(a => new AttemptRecord
        {
            Number = (int)a.Number,
            Node = a.Node,
            BackendRef = a.BackendRef,
            NodeRef = a.NodeRef,
            State = a.State,
            Status = a.Status,
            Reason = ParseOptional<StopReason>(a.Reason),
            ExitCode = (int?)a.ExitCode,
            PlacedAt = Time(a.PlacedAt),
            StartedAt = Time(a.StartedAt),
            FinishedAt = Time(a.FinishedAt),
            Message = a.Message,
        }).ToList(),
    };

    private static class Words<T> where T : struct, Enum
    {
        public static readonly Dictionary<T, string> ToWord =
            Enum.GetValues<T>().ToDictionary(v => v, v => JsonNamingPolicy.SnakeCaseLower.ConvertName(v.ToString()));

        public static readonly Dictionary<string, T> FromWord = ToWord.ToDictionary(p => p.Value, p => p.Key, StringComparer.Ordinal);
    }
}
