namespace Drover.Scheduler.Storage;

/// <summary>What a dependency's end means for the job waiting on it; the one place the rule is written.</summary>
internal static class DagRules
{
    /// <summary>Null when an edge of this condition is met by a job that ended so; else the reason its dependent stops.</summary>
    public static string? Unmet(string condition, string status, string? reason)
    {
        // A skipped job never ran: only afterany goes past it, and whatever it blocks is skipped too.
        if (reason == "skipped")
            return condition == "afterany" ? null : "skipped";
        return condition switch
        {
            "afterany" => null,
            "afterok" => status == "good" ? null : "dependency_failed",
            _ => status == "error" ? null : "skipped", // afternotok after a job that ended good: the path was not taken
        };
    }

    public static string Explain(long upstream, string condition, string status, string? reason) =>
        string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"dependency {upstream} ({condition}) ended {status}{(reason is null ? "" : " (" + reason + ")")}");
}
