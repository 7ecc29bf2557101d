using Drover.Bench;

// drover-bench: measures Drover as a user feels it and prints every figure as name=value (and as JSON).
//   dotnet run -c Release --project bench/Drover.Bench -- [--quick] [--url http://gateway] [--scheduler-url http://scheduler]
//                                                       [--processors K] [--slots N] [--scale F] [--only a,b] [--out file.json]
//                                                       [--database path-or-postgresql-URI] [--schedulers N]
//                                                       [--stores sqlite,postgresql,postgresql:3]
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (Exception e) when (e is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"drover-bench: {e.Message}");
    return 2;
}
var report = new Report();
var stateFileSystem = StateFileSystem.Describe(Path.GetTempPath());
Console.Error.WriteLine($"# state on {stateFileSystem}");
if (stateFileSystem.Contains("(no journal)", StringComparison.Ordinal))
    Console.Error.WriteLine("# ext4 without a journal: files deleted in the last minutes make every new file cost the Processor more; run on a quiet disk");
if (options.Stores.Count > 0)
{
    await StoreComparison.RunAsync(options, report);
}
else
{
    await using var system = options.GatewayUrl is null ? await LocalSystem.StartAsync(options) : null;
    var target = system?.Target ?? new Target(options.GatewayUrl!, options.SchedulerUrl ?? options.GatewayUrl!, []);
    await RunScenariosAsync(Scenarios.All, options, target, report);
}

await report.WriteJsonAsync(options.OutputFile);
return report.AnyFailed ? 1 : 0;

static async Task RunScenariosAsync(IEnumerable<Scenario> scenarios, BenchOptions options, Target target, Report report)
{
    foreach (var scenario in scenarios)
    {
        if (options.Only.Count > 0 && !options.Only.Contains(scenario.Name))
            continue;
        Console.Error.WriteLine($"# {report.Prefix}{scenario.Name}");
        try
        {
            await scenario.Run(new ScenarioContext(options, target, report));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // One broken scenario must not hide the figures of the others; the exit code still says it failed.
            Console.Error.WriteLine($"# {scenario.Name} failed: {e}");
            report.Failed(scenario.Name, e.Message);
        }
    }
}
