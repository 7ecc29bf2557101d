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
    int Schedulers,
    IReadOnlyList<StoreRun> Stores)
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
            Schedulers: Number("--schedulers", 1),
            Stores: StoreRun.ParseList(Value("--stores")));
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

/// <summary>
/// One store of a <c>--stores</c> run: <c>sqlite</c>, or <c>postgresql</c> with a number of schedulers
/// (<c>postgresql:3</c>). Each gets a fresh system and a fresh database, and its figures are named
/// <c>stores.&lt;label&gt;.…</c>, so that the engines stand side by side in one run.
/// </summary>
internal sealed record StoreRun(bool Postgres, int Schedulers)
{
    public string Label => Postgres ? string.Create(CultureInfo.InvariantCulture, $"postgresql_x{Schedulers}") : "sqlite";

    public static IReadOnlyList<StoreRun> ParseList(string? text) =>
        (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(Parse).ToList();

    private static StoreRun Parse(string item)
    {
        var parts = item.Split(':');
        var schedulers = parts.Length > 1 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : 1;
        return parts[0] switch
        {
            "sqlite" when schedulers == 1 => new StoreRun(false, 1),
            "postgresql" when schedulers >= 1 => new StoreRun(true, schedulers),
            _ => throw new ArgumentException($"--stores: '{item}' is not sqlite or postgresql[:schedulers]"),
        };
    }
}
