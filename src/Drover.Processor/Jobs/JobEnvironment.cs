using System.Collections;

namespace Drover.Processor.Jobs;

/// <summary>
/// What a job's commands get of the Processor's own environment: a short list of variables that describe the
/// machine and the user (the path, the home, the locale, the time zone), and nothing else. The Processor's
/// configuration arrives by environment too (<c>Processor__Token</c>, <c>Processor__SchedulerToken</c>), and a job
/// must never see it. The job's own variables (its spec's <c>environment</c>, with the <c>DROVER_*</c> ones the
/// scheduler adds) are laid over this by <see cref="Of"/>.
/// </summary>
internal static class JobEnvironment
{
    /// <summary>Passed on by default; <c>LC_*</c> too. <c>Processor:InheritEnvironment</c> names more.</summary>
    public static readonly IReadOnlyList<string> Defaults = ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR"];

    public static Hashtable Inherited(IDictionary environment, IEnumerable<string> more)
    {
        ArgumentNullException.ThrowIfNull(environment);
        var names = new HashSet<string>(Defaults.Concat(more), StringComparer.Ordinal);
        var inherited = new Hashtable(StringComparer.Ordinal);
        foreach (DictionaryEntry entry in environment)
        {
            if (entry.Key is string name && (names.Contains(name) || name.StartsWith("LC_", StringComparison.Ordinal)))
                inherited[name] = entry.Value;
        }
        return inherited;
    }

    /// <summary>A command's whole environment, as <c>NAME=value</c>: the inherited variables with the job's own laid over them.</summary>
    public static List<string> Of(IDictionary inherited, IReadOnlyDictionary<string, string> job)
    {
        ArgumentNullException.ThrowIfNull(inherited);
        ArgumentNullException.ThrowIfNull(job);
        var variables = new List<string>(inherited.Count + job.Count);
        foreach (DictionaryEntry entry in inherited)
            if (entry.Key is string name && !job.ContainsKey(name))
                variables.Add($"{name}={entry.Value}");
        foreach (var (name, value) in job)
            variables.Add($"{name}={value}");
        return variables;
    }
}
