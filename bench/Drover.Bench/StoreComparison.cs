using System.Globalization;
using Drover.Testing;

namespace Drover.Bench;

/// <summary>
/// <c>--stores</c>: the same scenarios (by default submit, e2e, latency and scale) on each store in turn, every one on a
/// fresh system, then the chief figures side by side, under the spawn floor measured once at the start of the run. PostgreSQL is a throwaway server started here (as the tests
/// start theirs), unless <c>--database</c> names one; each run gets a new database on it.
/// </summary>
internal static class StoreComparison
{
    private static readonly string[] DefaultScenarios = ["submit", "e2e", "latency", "scale"];

    private static readonly (string Figure, string Title)[] Columns =
    [
        ("e2e.gateway.jobs_per_s", "e2e gateway jobs/s"),
        ("e2e.scheduler.jobs_per_s", "e2e scheduler jobs/s"),
        ("submit.c64.jobs_per_s", "submissions/s (64 clients)"),
        ("submit.batch.jobs_per_s", "batch submissions/s"),
        ("submit.drained.c64.jobs_per_s", "submissions/s, nodes drained (64 clients)"),
        ("submit.drained.batch.jobs_per_s", "batch submissions/s, nodes drained"),
        ("latency.submit_to_start.p50", "submit->start p50 ms"),
        ("latency.submit_to_start.p99", "submit->start p99 ms"),
        ("scale.10_nodes.placements_per_s", "placements/s (10 nodes)"),
        ("scale.1000_nodes.placements_per_s", "placements/s (1,000 nodes)"),
    ];

    public static async Task RunAsync(BenchOptions options, Report report)
    {
        var only = options.Only.Count > 0 ? options.Only : DefaultScenarios.ToHashSet(StringComparer.Ordinal);
        PostgresServer? server = null;
        try
        {
            // The floor needs no system: it spawns /bin/true from this process.
            await FloorScenario.RunAsync(new ScenarioContext(options, new Target("", "", []), report));
            foreach (var store in options.Stores)
            {
                string? database = null;
                if (store.Postgres)
                {
                    if (options.DatabaseIsPostgres)
                        throw new ArgumentException("--stores makes a fresh database for each run: leave --database out");
                    server ??= await PostgresServer.StartAsync();
                    database = await server.CreateDatabaseAsync();
                }
                var run = options with { Database = database, Schedulers = store.Schedulers, Only = only, Stores = [] };
                report.Prefix = $"stores.{store.Label}.";
                await using (var system = await LocalSystem.StartAsync(run))
                {
                    foreach (var scenario in Scenarios.All.Where(s => only.Contains(s.Name)))
                    {
                        Console.Error.WriteLine($"# {report.Prefix}{scenario.Name}");
                        try
                        {
                            await scenario.Run(new ScenarioContext(run, system.Target, report)
                            {
                                FreshDatabase = server is { } s && store.Postgres ? () => s.CreateDatabaseAsync() : null,
                            });
                        }
                        catch (Exception e) when (e is not OperationCanceledException)
                        {
                            Console.Error.WriteLine($"# {store.Label} {scenario.Name} failed: {e}");
                            report.Failed(scenario.Name, e.Message);
                        }
                    }
                }
                report.Prefix = "";
            }
        }
        finally
        {
            report.Prefix = "";
            if (server is not null)
                await server.DisposeAsync();
        }
        PrintTable(options.Stores, report);
    }

    private static void PrintTable(IReadOnlyList<StoreRun> stores, Report report)
    {
        Console.Error.WriteLine();
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"spawn floor of this run: {FloorScenario.SpawnsPerSecond:0} /bin/true per second"));
        Console.Error.WriteLine("| figure | " + string.Join(" | ", stores.Select(s => s.Label)) + " |");
        Console.Error.WriteLine("| --- |" + string.Concat(stores.Select(_ => " --- |")));
        foreach (var (figure, title) in Columns)
        {
            var cells = stores.Select(s => report.Get($"stores.{s.Label}.{figure}") is { } v
                ? v.ToString(v >= 100 ? "0" : "0.0", CultureInfo.InvariantCulture) : "–");
            Console.Error.WriteLine($"| {title} | " + string.Join(" | ", cells) + " |");
        }
    }
}
