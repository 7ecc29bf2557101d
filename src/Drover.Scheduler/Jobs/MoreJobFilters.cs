using System.Globalization;
using Drover.Contracts;
using Drover.Scheduler.Storage;
using Microsoft.AspNetCore.Mvc;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// The list's filters beyond state, status, node and parent, as the query spells them: <c>?reason=killed</c>,
/// <c>?label=gpu=true</c>, <c>?submitted_after=2026-01-01T00:00:00Z</c>, <c>?submitted_before=…</c>, <c>?q=make part1</c>.
/// </summary>
internal sealed record MoreJobFilters(
    [property: FromQuery(Name = "reason")] string? Reason,
    [property: FromQuery(Name = "label")] string? Label,
    [property: FromQuery(Name = "submitted_after")] string? SubmittedAfter,
    [property: FromQuery(Name = "submitted_before")] string? SubmittedBefore,
    [property: FromQuery(Name = "q")] string? Q)
{
    private const int MaxWords = 8;

    /// <summary>The filter with these added; each bad one is reported in <paramref name="problems"/>, by its name.</summary>
    public JobFilter Apply(JobFilter filter, Dictionary<string, string[]> problems)
    {
        if (Reason is not null && !Wire.TryParse<StopReason>(Reason, out _))
            problems["reason"] = ["reason is one of " + string.Join(", ", Enum.GetValues<StopReason>().Select(Wire.Word))];
        (string, string)? label = null;
        if (Label is not null)
        {
            var equals = Label.IndexOf('=', StringComparison.Ordinal);
            if (equals < 1 || Label.Contains('"', StringComparison.Ordinal))
                problems["label"] = [$"'{Label}' is not key=value (a key without '\"')"];
            else
                label = (Label[..equals], Label[(equals + 1)..]);
        }
        var from = Time("submitted_after", SubmittedAfter, problems);
        var before = Time("submitted_before", SubmittedBefore, problems);
        var words = (Q ?? "").Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (words.Length > MaxWords)
            problems["q"] = [$"q has {words.Length} words; at most {MaxWords}"];
        return filter with { Reason = Reason, Label = label, CreatedFrom = from, CreatedBefore = before, Words = words };
    }

    private static long? Time(string name, string? text, Dictionary<string, string[]> problems)
    {
        if (string.IsNullOrEmpty(text))
            return null;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            return Wire.Millis(time);
        problems[name] = [$"'{text}' is not a time (ISO 8601, e.g. 2026-01-31T12:00:00Z)"];
        return null;
    }
}
