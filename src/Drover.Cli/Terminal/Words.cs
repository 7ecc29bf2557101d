using System.Globalization;
using System.Text.Json;

namespace Drover.Cli.Terminal;

/// <summary>Values as the API spells them, and times as a person reads them.</summary>
internal static class Words
{
    public static string Of<T>(T value) where T : struct, Enum => JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());

    public static string Of<T>(T? value) where T : struct, Enum => value is { } v ? Of(v) : "";

    public static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    public static string Ids(IEnumerable<long> ids) => string.Join(' ', ids.Select(Id));

    /// <summary>Local time, to the second.</summary>
    public static string Time(DateTimeOffset? at) => at is { } t ? t.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) : "";

    /// <summary>A short age: 42s, 5m10s, 3h02m, 2d04h.</summary>
    public static string Age(DateTimeOffset since, DateTimeOffset now)
    {
        var age = now - since;
        if (age < TimeSpan.Zero)
            age = TimeSpan.Zero;
        return age.TotalMinutes < 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalSeconds}s")
            : age.TotalHours < 1 ? string.Create(CultureInfo.InvariantCulture, $"{age.Minutes}m{age.Seconds:00}s")
            : age.TotalDays < 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalHours}h{age.Minutes:00}m")
            : string.Create(CultureInfo.InvariantCulture, $"{(int)age.TotalDays}d{age.Hours:00}h");
    }

    /// <summary>How a job ended, in one phrase: <c>good</c>, <c>error (exit_code 3)</c>, <c>running on node1</c>.</summary>
    public static string Outcome(Contracts.JobStatusView job) => job.State switch
    {
        Contracts.JobState.Stopped => Of(job.Status) + (job.Reason is { } reason
            ? " (" + Of(reason) + (reason == Contracts.StopReason.ExitCode && job.ExitCode is { } code ? " " + code.ToString(CultureInfo.InvariantCulture) : "") + ")"
            : ""),
        Contracts.JobState.Queued => "queued" + (job.QueueReason is { Length: > 0 } why ? ": " + why : ""),
        _ => Of(job.State) + (job.Node is { } node ? " on " + node : ""),
    };
}
