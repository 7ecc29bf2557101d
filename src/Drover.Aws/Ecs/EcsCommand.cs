using Drover.Contracts;

namespace Drover.Aws.Ecs;

/// <summary>
/// How a job's commands become the one command of an ECS container. One command is passed as its argv
/// (<c>{"shell": line}</c> as <c>/bin/sh -c line</c>), so images without a shell run single-command jobs.
/// Several commands run under <c>/bin/sh -c</c> with a fixed script: each command travels as positional
/// arguments (its length, then its words), the script runs them in order and exits with the first non-zero
/// status. No job text is ever pasted into the script, so no quoting can go wrong. The image then needs /bin/sh.
/// </summary>
public static class EcsCommand
{
    /// <summary>
    /// <c>$1</c> is a command's word count, the next words its argv. The only text given to eval is built here from
    /// positional indexes (<c>"${2}" "${3}"</c>), never from the job's words.
    /// </summary>
    public const string RunInOrderScript = """
        while [ "$#" -gt 0 ]; do
          n=$1; shift; words=""; i=1
          while [ "$i" -le "$n" ]; do words="$words \"\${$i}\""; i=$((i + 1)); done
          eval "$words" || exit $?
          shift "$n"
        done
        """;

    public static IReadOnlyList<string> ToContainerCommand(IReadOnlyList<CommandSpec> commands)
    {
        ArgumentNullException.ThrowIfNull(commands);
        if (commands.Count == 0)
            throw new ArgumentException("a job has at least one command", nameof(commands));
        var argvs = commands.Select(c => c.ToArgv()).ToList();
        if (argvs.Any(a => a.Count == 0))
            throw new ArgumentException("every command has a program to run", nameof(commands));
        if (argvs.Count == 1)
            return argvs[0];

        var command = new List<string> { "/bin/sh", "-c", RunInOrderScript.ReplaceLineEndings("\n"), "drover" };
        foreach (var argv in argvs)
        {
            command.Add(argv.Count.ToString(System.Globalization.CultureInfo.InvariantCulture));
            command.AddRange(argv);
        }
        return command;
    }
}
