using System.Globalization;

namespace Drover.Scheduler.Storage;

/// <summary>
/// An attempt's request id on its node: <c>&lt;job&gt;-&lt;attempt&gt;-&lt;incarnation&gt;</c>, the incarnation drawn at random
/// each time a store is opened (older stores made <c>&lt;job&gt;-&lt;attempt&gt;</c>). Built and read only here.
/// </summary>
internal static class AttemptRef
{
    public static string Format(long jobId, int number, string incarnation) =>
        string.Create(CultureInfo.InvariantCulture, $"{jobId}-{number}-{incarnation}");

    /// <summary>The job and attempt of a request id this scheduler made; null for any other name.</summary>
    public static (long JobId, int Number)? Parse(string requestId) =>
        requestId.Split('-') is [var job, var attempt, ..] and { Length: 2 or 3 }
        && long.TryParse(job, NumberStyles.None, CultureInfo.InvariantCulture, out var jobId)
        && int.TryParse(attempt, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? (jobId, number)
            : null;
}
