using System.CommandLine;

namespace Drover.Cli.Terminal;

/// <summary>
/// <c>drover completion bash|zsh|fish</c>: a script that asks drover itself what may come next, through
/// System.CommandLine's <c>[suggest:POSITION]</c> directive, so completion knows every command, option and enum value.
/// </summary>
internal static class CompletionCommand
{
    public enum Shell
    {
        Bash,
        Zsh,
        Fish,
    }

    private const string Bash = """
        # drover completion for bash: source <(drover completion bash)
        _drover_complete() {
            local IFS=$'\n'
            COMPREPLY=($(compgen -W "$("${COMP_WORDS[0]}" "[suggest:${COMP_POINT}]" "${COMP_LINE}" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}"))
        }
        complete -o default -F _drover_complete drover
        """;

    private const string Zsh = """
        # drover completion for zsh (after compinit): source <(drover completion zsh)
        _drover_complete() {
            local -a candidates
            candidates=("${(@f)$(drover "[suggest:$CURSOR]" "$BUFFER" 2>/dev/null)}")
            compadd -a candidates
        }
        compdef _drover_complete drover
        """;

    private const string Fish = """
        # drover completion for fish: drover completion fish | source
        complete -c drover -f -a '(drover "[suggest:"(string length -- (commandline -cp))"]" (commandline -p) 2>/dev/null)'
        """;

    public static Command Create()
    {
        var shell = new Argument<Shell>("shell") { Description = "bash, zsh or fish." };
        shell.CompletionSources.Clear();
        shell.CompletionSources.Add("bash", "zsh", "fish");
        var command = new Command("completion", "Print the shell completion script: source <(drover completion bash).") { shell };
        command.SetAction(parse =>
        {
            Console.Out.WriteLine(parse.GetValue(shell) switch { Shell.Zsh => Zsh, Shell.Fish => Fish, _ => Bash });
            return ExitCodes.Ok;
        });
        return command;
    }
}
