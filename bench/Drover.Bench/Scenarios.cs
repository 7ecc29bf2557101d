namespace Drover.Bench;

internal sealed record ScenarioContext(BenchOptions Options, Target Target, Report Report)
{
    /// <summary>
    /// A new empty PostgreSQL database for a scenario that starts schedulers of its own (scale), in a <c>--stores</c>
    /// run of PostgreSQL; null otherwise, and such a scenario uses a fresh SQLite file.
    /// </summary>
    public Func<Task<string>>? FreshDatabase { get; init; }
}

internal sealed record Scenario(string Name, Func<ScenarioContext, Task> Run);

/// <summary>Every scenario, in the order they run (memory idle first, before anything has warmed the services up).</summary>
internal static class Scenarios
{
    public static IReadOnlyList<Scenario> All { get; } =
    [
        new("memory_idle", c => MemoryScenario.RunAsync(c, "idle")),
        new("floor", FloorScenario.RunAsync),
        new("submit", JobScenarios.SubmitAsync),
        new("e2e", JobScenarios.EndToEndAsync),
        new("memory_after_e2e", c => MemoryScenario.RunAsync(c, "after_e2e")),
        new("latency", JobScenarios.LatencyAsync),
        new("dag", DagScenarios.RunAsync),
        new("queries", JobScenarios.QueriesAsync),
        new("scale", ScaleScenario.RunAsync),
    ];
}
