using System.Globalization;
using System.Text.Json;

namespace Drover.Bench;

/// <summary>Every figure as it is measured: a <c>name=value</c> line on stdout, and all of them in one JSON file.</summary>
internal sealed class Report
{
    private readonly Dictionary<string, object> _figures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _failures = new(StringComparer.Ordinal);

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public bool AnyFailed => _failures.Count > 0;

    public void Add(string name, double value, string unit)
    {
        var rounded = Math.Round(value, value >= 100 ? 0 : 3);
        _figures[name] = new { value = rounded, unit };
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{name}={rounded} {unit}"));
    }

    public void AddLatencies(string name, IReadOnlyCollection<double> milliseconds)
    {
        var sorted = milliseconds.Order().ToArray();
        Add($"{name}.p50", Percentile(sorted, 0.50), "ms");
        Add($"{name}.p99", Percentile(sorted, 0.99), "ms");
    }

    public void Failed(string scenario, string why)
    {
        _failures[scenario] = why;
        Console.WriteLine($"{scenario}.failed={why.ReplaceLineEndings(" ")}");
    }

    public async Task WriteJsonAsync(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        await using var file = File.Create(path);
        await JsonSerializer.SerializeAsync(file, new
        {
            measured_at = DateTimeOffset.UtcNow,
            machine = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription },
            figures = _figures,
            failures = _failures,
        }, Indented);
        Console.Error.WriteLine($"# figures written to {path}");
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
