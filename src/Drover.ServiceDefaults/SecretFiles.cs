using Microsoft.Extensions.Configuration;

namespace Drover.ServiceDefaults;

/// <summary>
/// Every token or key setting can also be given by file: <c>Processor:TokenFile=/run/secrets/node-token</c> sets
/// <c>Processor:Token</c> to the file's first line. A secret on the command line is in every local user's <c>ps</c>,
/// and one in the environment goes wherever the environment goes; a file readable by the service alone does not.
/// Any key whose name ends in <c>TokenFile</c> or <c>KeyFile</c> is read this way, so a new token option gets the
/// file form without code of its own (<c>Scheduler:JobTokenKeyFile</c>, <c>Gateway:Keys:0:KeyFile</c>, ...).
/// </summary>
public static class SecretFiles
{
    private static readonly string[] Suffixes = ["TokenFile", "KeyFile"];

    /// <summary>Reads every secret file the configuration names, at start, and fails on the first start with all that is wrong.</summary>
    public static IConfigurationBuilder AddSecretFiles(this IConfigurationManager configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var problems = new List<string>();
        foreach (var (key, path) in configuration.AsEnumerable())
        {
            var name = key.Split(':')[^1];
            if (!Suffixes.Any(s => name.EndsWith(s, StringComparison.OrdinalIgnoreCase) && name.Length > "File".Length) || string.IsNullOrEmpty(path))
                continue;
            var target = key[..^"File".Length];
            if (!string.IsNullOrEmpty(configuration[target]))
            {
                problems.Add($"{key}: give {target} or {key}, not both");
                continue;
            }
            if (Read(path, out var why) is { } secret)
                values[target] = secret;
            else
                problems.Add($"{key}: {why}");
        }
        if (problems.Count > 0)
            throw new InvalidOperationException("Secret files could not be read: " + string.Join("; ", problems));
        return values.Count == 0 ? configuration : configuration.AddInMemoryCollection(values);
    }

    private static string? Read(string path, out string why)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            why = $"cannot read '{path}': {e.Message}";
            return null;
        }
        // One line; the newline an editor or `echo` leaves is not part of the secret.
        var secret = text.TrimEnd('\r', '\n');
        if (secret.Length == 0 || secret.Trim().Length != secret.Length || secret.Contains('\n', StringComparison.Ordinal))
        {
            why = $"'{path}' must hold the secret alone on one line, without spaces around it";
            return null;
        }
        why = "";
        return secret;
    }
}
