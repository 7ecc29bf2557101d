using Drover.Scheduler.Jobs;

namespace Drover.Scheduler.Tests;

public sealed class ShellWordsTests
{
    [Theory]
    [InlineData("curl \"https://www.google.com/\"", new[] { "curl", "https://www.google.com/" })]
    [InlineData("  echo   a\tb  ", new[] { "echo", "a", "b" })]
    [InlineData("echo 'a b' \"c d\"", new[] { "echo", "a b", "c d" })]
    [InlineData("echo a\\ b", new[] { "echo", "a b" })]
    [InlineData("echo 'it'\\''s'", new[] { "echo", "it's" })]
    [InlineData("echo \"say \\\"hi\\\" \\$HOME \\\\ \\n\"", new[] { "echo", "say \"hi\" $HOME \\ \\n" })]
    [InlineData("echo '' \"\"", new[] { "echo", "", "" })]
    [InlineData("echo '$HOME' * ;", new[] { "echo", "$HOME", "*", ";" })]
    [InlineData("a\"b\"'c'd", new[] { "abcd" })]
    [InlineData("echo a\\\nb", new[] { "echo", "ab" })]
    [InlineData("", new string[0])]
    public void Splits_like_a_POSIX_shell_without_expanding(string line, string[] expected) =>
        Assert.Equal(expected, ShellWords.Split(line));

    [Theory]
    [InlineData("curl \"https://example.org/")]
    [InlineData("echo 'open")]
    [InlineData("echo trailing\\")]
    [InlineData("echo \"a\\\"")]
    public void Open_quotes_and_a_lone_backslash_are_errors(string line) =>
        Assert.Throws<FormatException>(() => ShellWords.Split(line));
}
