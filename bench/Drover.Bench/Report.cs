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

    /// <summary>Put before every name added (e.g. <c>stores.postgresql_x3.</c>), while one store of a <c>--stores</c> run is measured.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>A figure added so far, by its full name, or null.</summary>
    public double? Get(string name) =>
        _figures.TryGetValue(name, out var figure) ? (double)figure.GetType().GetProperty("value")!.GetValue(figure)! : null;

    public void Add(string name, double value, string unit)
    {
        name = Prefix + name;
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
        scenario = Prefix + scenario;
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
            machine = new
            {
                cores = Environment.ProcessorCount,
                os = System.Runtime.InteropServices.RuntimeInformation.OSDescription,
                state_file_system = StateFileSystem.Describe(Path.GetTempPath()),
            },
            figures = _figures,
            failures = _failures,
        }, Indented);
        Console.Error.WriteLine($"# figures written to {path}");
    }

    public static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}

/// <summary>
/// The file system the services keep their state on (the temporary folder). It is part of every Processor figure:
/// ext4 without a journal, say, makes each new file walk past every inode deleted in the last 1 to 6 minutes, so a
/// run right after a large delete (a build's clean, a test suite's temporary folders) costs the Processor far more
/// CPU per job than a run on a quiet disk.
/// </summary>
internal static class StateFileSystem
{
    public static string Describe(string path)
    {
        try
        {
            var full = Path.GetFullPath(path);
            // The mount the path is on: the longest mount point that is a prefix of it.
            var mount = File.ReadLines("/proc/mounts")
                .Select(l => l.Split(' '))
                .Where(f => f.Length > 3 && (full.StartsWith(f[1].TrimEnd('/') + "/", StringComparison.Ordinal) || f[1] == "/"))
                .MaxBy(f => f[1].Length);
            if (mount is null)
                return "unknown";
            var device = Path.GetFileName(mount[0]);
            var ext4Options = Path.Combine("/proc/fs/ext4", device, "options");
            var noJournal = mount[2] == "ext4" && File.Exists(ext4Options) && File.ReadAllText(ext4Options).Contains("nojournal", StringComparison.Ordinal);
            return $"{mount[2]}{(noJournal ? " (no journal)" : "")} on {mount[1]}";
        }
        catch (IOException)
        {
            return "unknown";
        }
    }
}
