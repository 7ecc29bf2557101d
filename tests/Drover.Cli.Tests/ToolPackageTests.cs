using System.Diagnostics;
using System.Reflection;

namespace Drover.Cli.Tests;

/// <summary><c>dotnet pack</c> makes a .NET tool that <c>dotnet tool install</c> takes from a folder, as the README shows.</summary>
public sealed class ToolPackageTests : IDisposable
{
    private readonly string _root = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "drover-cli-tests", Guid.NewGuid().ToString("N"))).FullName;

    [Fact]
    public async Task Dotnet_pack_and_tool_install_give_a_working_drover()
    {
        // The CLI as built for these tests (bin/<configuration>/net10.0), packed without building it again.
        var configuration = new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name;
        var project = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../../src/Drover.Cli/Drover.Cli.csproj"));
        Assert.True(File.Exists(project), project);
        var packages = Path.Combine(_root, "packages");
        await DotNetAsync("pack", project, "--no-build", "-c", configuration, "-o", packages);
        var version = Assembly.LoadFrom(Drover.Cli).GetName().Version!.ToString(3);
        Assert.True(File.Exists(Path.Combine(packages, $"drover.{version}.nupkg")));

        // Only that folder as a source, and a package cache of its own, so that the package just made is the one installed.
        var config = Path.Combine(_root, "nuget.config");
        await File.WriteAllTextAsync(config, $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration><packageSources><clear /><add key="local" value="{packages}" /></packageSources></configuration>
            """);
        var tools = Path.Combine(_root, "tools");
        await DotNetAsync("tool", "install", "drover", "--tool-path", tools, "--configfile", config, "--version", version);

        var (code, output) = await RunAsync(Path.Combine(tools, "drover"), "--version");
        Assert.Equal(0, code);
        Assert.StartsWith(version, output, StringComparison.Ordinal);
        (code, output) = await RunAsync(Path.Combine(tools, "drover"), "completion", "bash");
        Assert.Equal(0, code);
        Assert.Contains("complete -o default -F _drover_complete drover", output, StringComparison.Ordinal);
    }

    private async Task DotNetAsync(params string[] args)
    {
        var (code, output) = await RunAsync(Drover.DotNet, args);
        Assert.True(code == 0, $"dotnet {string.Join(' ', args)} exited {code}: {output}");
    }

    private async Task<(int Code, string Output)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _root };
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        start.Environment["NUGET_PACKAGES"] = Path.Combine(_root, "nuget-cache");
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        start.Environment["DOTNET_NOLOGO"] = "1";
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(limit.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // cleaned by the system later
        }
    }
}
