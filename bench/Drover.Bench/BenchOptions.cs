using System.Globalization;

namespace Drover.Bench;

internal sealed record BenchOptions(
    bool Quick,
    string? GatewayUrl,
    string? SchedulerUrl,
    int Processors,
    int SlotsPerProcessor,
    IReadOnlySet<string> Only,
    string OutputFile)
{
    /// <summary>Scales a count down for <c>--quick</c>, which checks that every scenario runs, not its figures.</summary>
    public int Size(int full, int quick) => Quick ? quick : full;

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
            GatewayUrl: Value("--url"),
            SchedulerUrl: Value("--scheduler-url"),
            Processors: Number("--processors", 2),
            SlotsPerProcessor: Number("--slots", 8),
            Only: (Value("--only") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal),
            OutputFile: Value("--out") ?? Path.Combine("bench", "results", "last.json"));
    }
}
