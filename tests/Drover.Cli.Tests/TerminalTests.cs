using System.Diagnostics;
using System.Reflection;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Cli.Tests;

/// <summary>What a person sees in a terminal (live views under tmux), shell completion, the version, and the tool package.</summary>
public sealed class TerminalTests(Drover drover) : IClassFixture<Drover>
{
    [Fact]
    public async Task Version_is_the_assemblys()
    {
        var run = await drover.RunAsync("--version");
        run.AssertExit(0);
        var expected = Assembly.LoadFrom(Drover.Cli).GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion;
        Assert.Equal(expected, run.Stdout.Trim());
        Assert.StartsWith("0.1.0", expected, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bash_completion_completes_commands_options_and_values_from_drover_itself()
    {
        var bin = Directory.CreateDirectory(Path.Combine(drover.Root, "bin")).FullName;
        var wrapper = Path.Combine(bin, "drover");
        await File.WriteAllTextAsync(wrapper, $"#!/bin/sh\nexec '{Drover.DotNet}' '{Drover.Cli}' \"$@\"\n");
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var script = await drover.RunAsync("completion", "bash");
        script.AssertExit(0);
        var scriptFile = Path.Combine(drover.Root, "drover.bash");
        await File.WriteAllTextAsync(scriptFile, script.Stdout);

        async Task<string[]> CompleteAsync(params string[] words)
        {
            var line = string.Join(' ', words);
            var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(
                $"source '{scriptFile}'; COMP_LINE='{line}'; COMP_POINT={line.Length}; COMP_WORDS=({string.Join(' ', words.Select(w => $"'{w}'"))}); "
                + $"COMP_CWORD={words.Length - 1}; _drover_complete; printf '%s\\n' \"${{COMPREPLY[@]}}\"");
            start.Environment["PATH"] = bin + ":" + Environment.GetEnvironmentVariable("PATH");
            using var bash = Process.Start(start)!;
            var output = await bash.StandardOutput.ReadToEndAsync();
            await bash.WaitForExitAsync();
            return output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        }

        Assert.Equal(["submit"], await CompleteAsync("drover", "subm"));
        Assert.Contains("--descendants", await CompleteAsync("drover", "kill", "--d"));
        Assert.Equal(["placed", "queued", "running", "stopped"], (await CompleteAsync("drover", "jobs", "--state", "")).Order());
    }

    [SkippableFact]
    public async Task Dag_watch_redraws_the_tree_in_place_as_the_jobs_run()
    {
        Skip.If(!File.Exists("/usr/bin/tmux"), "tmux is not installed (scripts/test installs it)");
        // The first job runs until the test has seen it run in the terminal and opens its gate.
        var gate = Path.Combine(drover.Root, "gate-" + Guid.NewGuid().ToString("N"));
        var dag = await drover.RunAsync(drover.Environment(), """
            {"jobs": {
              "first":  {"commands": [["sh", "-c", "while [ ! -e GATE ]; do sleep 0.1; done"]]},
              "second": {"commands": [["echo", "second"]], "depends_on": ["first"]}}}
            """.Replace("GATE", gate, StringComparison.Ordinal), "dag", "submit", "--json", "-");
        var answer = JsonSerializer.Deserialize<DagAnswer>(dag.Stdout, DroverJson.Options)!;
        var session = "drover-cli-" + Guid.NewGuid().ToString("N")[..8];
        var command = $"'{Drover.DotNet}' '{Drover.Cli}' --url {drover.GatewayUrl} --token {Drover.AdminKey} dag {answer.Root} --watch; echo \"exit=$?\"; sleep 60";
        await TmuxAsync("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command);
        try
        {
            var running = await PaneUntilAsync(session, pane => pane.Contains($"{answer.Jobs["first"]} running on {Drover.NodeName}", StringComparison.Ordinal));
            Assert.Contains($"DAG {answer.Root}: running, 0/2 jobs stopped", running, StringComparison.Ordinal);
            Assert.Contains($"{answer.Jobs["second"]} afterok queued", running, StringComparison.Ordinal);
            await File.WriteAllTextAsync(gate, "");

            var done = await PaneUntilAsync(session, pane => pane.Contains("exit=", StringComparison.Ordinal));
            Assert.Contains("exit=0", done, StringComparison.Ordinal);
            Assert.Contains($"DAG {answer.Root}: good, 2/2 jobs stopped", done, StringComparison.Ordinal);
            Assert.Contains($"{answer.Jobs["second"]} afterok good", done, StringComparison.Ordinal);
            // Redrawn in place: the terminal holds one tree, the last, not one tree per change.
            Assert.Single(done.Split('\n'), line => line.StartsWith($"DAG {answer.Root}:", StringComparison.Ordinal));
            Assert.DoesNotContain("running", done, StringComparison.Ordinal);
        }
        finally
        {
            await File.WriteAllTextAsync(gate, "");
            await TmuxAsync("kill-session", "-t", session);
        }
    }

    [SkippableFact]
    public async Task Wait_shows_a_progress_line_while_jobs_run_and_a_line_per_job_as_it_stops()
    {
        Skip.If(!File.Exists("/usr/bin/tmux"), "tmux is not installed (scripts/test installs it)");
        var quick = await drover.SubmitAsync("--", "true");
        var gate = Path.Combine(drover.Root, "gate-" + Guid.NewGuid().ToString("N"));
        var slow = await drover.SubmitAsync("--", "sh", "-c", $"while [ ! -e {gate} ]; do sleep 0.1; done");
        var session = "drover-cli-" + Guid.NewGuid().ToString("N")[..8];
        var command = $"'{Drover.DotNet}' '{Drover.Cli}' --url {drover.GatewayUrl} --token {Drover.AdminKey} wait {quick} {slow}; echo \"exit=$?\"; sleep 60";
        await TmuxAsync("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command);
        try
        {
            var progress = await PaneUntilAsync(session, pane => pane.Contains("1/2 stopped (1 good, 0 error)", StringComparison.Ordinal));
            Assert.Contains($"running: {slow}", progress, StringComparison.Ordinal);
            Assert.Contains($"{quick}: good", progress, StringComparison.Ordinal);
            await File.WriteAllTextAsync(gate, "");

            var done = await PaneUntilAsync(session, pane => pane.Contains("exit=", StringComparison.Ordinal));
            Assert.Contains("exit=0", done, StringComparison.Ordinal);
            Assert.Contains($"{slow}: good", done, StringComparison.Ordinal);
            Assert.DoesNotContain("stopped (", done, StringComparison.Ordinal); // the progress line is gone at the end
        }
        finally
        {
            await File.WriteAllTextAsync(gate, "");
            await TmuxAsync("kill-session", "-t", session);
        }
    }

    private static async Task<string> PaneUntilAsync(string session, Func<string, bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (true)
        {
            var pane = await TmuxAsync("capture-pane", "-p", "-t", session);
            if (condition(pane))
                return pane;
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException("the terminal never showed what was expected:\n" + pane);
            await Task.Delay(100);
        }
    }

    private static async Task<string> TmuxAsync(params string[] args)
    {
        var start = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["TERM"] = "xterm-256color";
        using var tmux = Process.Start(start)!;
        var output = await tmux.StandardOutput.ReadToEndAsync();
        await tmux.WaitForExitAsync();
        return output;
    }
}
