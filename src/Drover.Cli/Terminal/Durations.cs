using System.CommandLine.Parsing;
using System.Globalization;

namespace Drover.Cli.Terminal;

/// <summary>Durations on the command line: <c>90</c> (seconds), <c>1.5s</c>, <c>10m</c>, <c>2h</c>, <c>1d</c> or <c>00:10:00</c>.</summary>
internal static class Durations
{
    public static TimeSpan? Parse(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
        if (TryParse(text, out var duration) && duration > TimeSpan.Zero)
            return duration;
        result.AddError($"'{text}' is not a duration: give seconds (90), or 1.5s, 10m, 2h, 1d, or hh:mm:ss");
        return null;
    }

    public static bool TryParse(string text, out TimeSpan duration)
    {
        duration = default;
        text = text.Trim();
        if (text.Contains(':', StringComparison.Ordinal))
            return TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out duration);
        var unit = text.Length > 0 && char.IsLetter(text[^1]) ? text[^1] : 's';
        var number = char.IsLetter(unit) && text.Length > 0 && char.IsLetter(text[^1]) ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || double.IsInfinity(value))
            return false;
        var seconds = unit switch { 's' => value, 'm' => value * 60, 'h' => value * 3600, 'd' => value * 86400, _ => double.NaN };
        if (double.IsNaN(seconds) || seconds > TimeSpan.MaxValue.TotalSeconds / 2)
            return false;
        duration = TimeSpan.FromSeconds(seconds);
        return true;
    }
}
