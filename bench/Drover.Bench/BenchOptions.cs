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
    string OutputFile)
{
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

        return new BenchOptions(
            Quick: args.Contains("--quick"),
            Scale: Value("--scale") is { } scale ? double.Parse(scale, CultureInfo.InvariantCulture) : 1.0,
            GatewayUrl: Value("--url"),
            SchedulerUrl: Value("--scheduler-url"),
            Processors: Number("--processors", 2),
            SlotsPerProcessor: Number("--slots", 8),
            Only: (Value("--only") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
            OutputFile: Value("--out") ?? Path.Combine("bench", "results", "last.json"));
    }
}
