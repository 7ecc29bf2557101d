namespace Drover.Cli.Terminal;

/// <summary>
/// One line on stderr, redrawn in place (carriage return, erase line) while a command waits; cleared before anything
/// else is written, so that results on stdout stay whole lines. Only on a terminal: piped, it writes nothing.
/// </summary>
internal sealed class ProgressLine(bool enabled) : IDisposable
{
    private bool _shown;

    public void Show(string text)
    {
        if (!enabled)
            return;
        var width = Console.WindowWidth > 1 ? Console.WindowWidth - 1 : 79;
        if (text.Length > width)
            text = text[..(width - 1)] + "…";
        Console.Error.Write("\r\e[2K" + text);
        Console.Error.Flush();
        _shown = true;
    }

    public void Clear()
    {
        if (!_shown)
            return;
        Console.Error.Write("\r\e[2K");
        Console.Error.Flush();
        _shown = false;
    }

    public void Dispose() => Clear();
}
