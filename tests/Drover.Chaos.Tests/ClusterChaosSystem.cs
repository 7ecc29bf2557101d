using System.Diagnostics;
using System.Globalization;
using Dapper;
using Drover.Testing;

namespace Drover.Chaos.Tests;

/// <summary>
/// The system with three schedulers over one PostgreSQL database (a throwaway server of the tests' own), sharing one
/// uploads directory and the same tokens; the gateway and both Processors are given all three.
/// </summary>
public sealed class ClusterChaosSystem : IAsyncLifetime
{
    public const int SchedulerCount = 3;
    private PostgresServer? _postgres;
    private ChaosSystem? _system;

    public ChaosSystem System => _system ?? throw new InvalidOperationException("the cluster has not started");

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        _postgres = await PostgresServer.StartAsync();
        var database = await _postgres.CreateDatabaseAsync();
        var postgresSeconds = clock.Elapsed.TotalSeconds;
        _system = new ChaosSystem(SchedulerCount, database);
        await _system.InitializeAsync();
        // On the test host's output, as the scenarios' figures are: the start is a good part of the class's run time.
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"chaos.cluster_start: postgres_seconds={postgresSeconds:0.0} seconds={clock.Elapsed.TotalSeconds:0.0}"));
    }

    public async Task DisposeAsync()
    {
        if (_system is not null)
            await _system.DisposeAsync();
        if (_postgres is not null)
            await _postgres.DisposeAsync();
    }

    /// <summary>The schedulers present now (their presence not lapsed): instance id, and which of <see cref="ChaosSystem.Schedulers"/> it is.</summary>
    public async Task<IReadOnlyDictionary<string, int>> LiveSchedulersAsync()
    {
        await using var db = await System.OpenDatabaseAsync();
        var rows = await db.QueryAsync<(string Id, string? Url)>(
            "SELECT id, url FROM schedulers WHERE expires_at >= @now", new { now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
        return rows.ToDictionary(r => r.Id, r => IndexOf(r.Url));
    }

    /// <summary>The instance id of the running scheduler at <paramref name="index"/> (each start draws a new one).</summary>
    public async Task<string> InstanceAsync(int index)
    {
        string? instance = null;
        await ChaosTests.WaitAsync(async () =>
        {
            await using var db = await System.OpenDatabaseAsync();
            var rows = await db.QueryAsync<(string Id, string? Url)>(
                "SELECT id, url FROM schedulers WHERE expires_at >= @now ORDER BY started_at DESC",
                new { now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() });
            instance = rows.Where(r => IndexOf(r.Url) == index).Select(r => r.Id).FirstOrDefault();
            return instance is not null;
        }, 30, $"scheduler {index + 1} to be present");
        return instance!;
    }

    /// <summary>Which scheduler has this public URL, or -1.</summary>
    public int IndexOf(string? url) =>
        url is null ? -1 : System.SchedulerUrls.ToList().FindIndex(u => u.Authority == new Uri(url).Authority);
}

/// <summary>The cluster scenarios share one cluster, one scenario at a time.</summary>
[CollectionDefinition(Name)]
public sealed class ClusterChaosRun : ICollectionFixture<ClusterChaosSystem>
{
    public const string Name = "chaos-cluster";
}
