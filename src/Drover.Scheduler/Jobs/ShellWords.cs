using System.Text;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// Splits a command line into an argv by POSIX shell-word rules (quote removal only): blanks separate words,
/// <c>'...'</c> keeps everything literally, <c>"..."</c> keeps everything but lets a backslash escape
/// <c>$ ` " \</c> and a newline, and outside quotes a backslash escapes any character (backslash-newline joins lines).
/// No expansion happens: no shell ever sees the line, so <c>$HOME</c> or <c>*</c> stay as written.
/// </summary>
public static class ShellWords
{
    public static IReadOnlyList<string> Split(string line)
    {
        ArgumentNullException.ThrowIfNull(line);
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false; // a word exists even when empty, as with '' or ""
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            switch (c)
            {
                case ' ' or '\t' or '\n':
                    if (inWord)
                    {
                        words.Add(word.ToString());
                        word.Clear();
                        inWord = false;
                    }
                    break;
                case '\\':
                    if (i + 1 >= line.Length)
                        throw new FormatException("the command ends with a lone backslash");
                    i++;
                    if (line[i] != '\n')
                    {
                        word.Append(line[i]);
                        inWord = true;
                    }
                    break;
                case '\'':
                    {
                        var end = line.IndexOf('\'', i + 1);
                        if (end < 0)
                            throw new FormatException($"the single quote at position {i + 1} is never closed");
                        word.Append(line, i + 1, end - i - 1);
                        inWord = true;
                        i = end;
                        break;
                    }
                case '"':
                    {
                        var start = i;
                        inWord = true;
                        for (i++; ; i++)
                        {
                            if (i >= line.Length)
                                throw new FormatException($"the double quote at position {start + 1} is never closed");
                            var d = line[i];
                            if (d == '"')
                                break;
                            if (d == '\\' && i + 1 < line.Length && line[i + 1] is '$' or '`' or '"' or '\\' or '\n')
                            {
                                i++;
                                if (line[i] != '\n')
                                    word.Append(line[i]);
                                continue;
                            }
                            word.Append(d);
                        }
                        break;
                    }
                default:
                    word.Append(c);
                    inWord = true;
                    break;
            }
        }
        if (inWord)
            words.Add(word.ToString());
        return words;
    }
}
