using System.Globalization;

namespace Drover.Bench;

internal sealed record BenchOptions(
    bool Quick,
    double Scale,
    string? GatewayUrl,
    string? SchedulerUrl,
    int Processors,
    int SlotsPerProcessor,
    IReadOnlySet<string> Only,
    string OutputFile,
    string? Database,
    int Schedulers)
{
    /// <summary>A PostgreSQL URI (several schedulers can share it); anything else names a SQLite file.</summary>
    public bool DatabaseIsPostgres => Database is { } d
        && (d.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || d.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// A count: <paramref name="quick"/> for <c>--quick</c> (which checks that every scenario runs, not its figures),
    /// else the full count times <c>--scale</c> (for machines where the full runs would take too long).
    /// </summary>
    public int Size(int full, int quick) => Quick ? quick : Math.Max(quick, (int)(full * Scale));

    public static BenchOptions Parse(string[] args)
    {
        string? Value(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        int Number(string name, int fallback) => Value(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;

        var options = new BenchOptions(
            Quick: args.Contains("--quick"),
            Scale: Value("--scale") is { } scale ? double.Parse(scale, CultureInfo.InvariantCulture) : 1.0,
            GatewayUrl: Value("--url"),
            SchedulerUrl: Value("--scheduler-url"),
            Processors: Number("--processors", 2),
            SlotsPerProcessor: Number("--slots", 8),
            Only: (Value("--only") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
            OutputFile: Value("--out") ?? Path.Combine("bench", "results", "last.json"),
            Database: Value("--database"),
            Schedulers: Number("--schedulers", 1));
        if (options.Schedulers < 1)
            throw new ArgumentException("--schedulers must be 1 or more");
        // Schedulers share their jobs through the database: SQLite is one scheduler's file, and a second one beside it
        // would fight over the same rows without the locks a shared store relies on.
        if (options.Schedulers > 1 && !options.DatabaseIsPostgres)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture,
                $"--schedulers {options.Schedulers} needs a database the schedulers can share: give --database postgresql://user:password@host/db "
                + $"(a SQLite file{(options.Database is null ? ", the default," : "")} serves one scheduler only)"));
        return options;
    }
}
