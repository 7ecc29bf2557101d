using System.Globalization;

namespace Drover.Scheduler.Storage;

/// <summary>The schema scripts of one engine (embedded as <c>sqlite/NNN_name.sql</c>, <c>postgres/NNN_name.sql</c>), in order.</summary>
internal static class SchemaScripts
{
    public static IEnumerable<(long Number, string Sql)> Read(string prefix)
    {
        var assembly = typeof(SchemaScripts).Assembly;
        foreach (var name in assembly.GetManifestResourceNames()
                     .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".sql", StringComparison.Ordinal))
                     .Order(StringComparer.Ordinal))
        {
            var number = long.Parse(name[prefix.Length..].Split('_')[0], CultureInfo.InvariantCulture);
            using var stream = assembly.GetManifestResourceStream(name)!;
            using var reader = new StreamReader(stream);
            yield return (number, reader.ReadToEnd());
        }
    }
}
