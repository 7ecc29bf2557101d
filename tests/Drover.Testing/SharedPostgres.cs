namespace Drover.Testing;

/// <summary>
/// One throwaway PostgreSQL server per test assembly, started by the first test that asks and stopped when the test
/// host exits (see <see cref="PostgresServer"/>); each caller gets a database of its own on it.
/// </summary>
public static class SharedPostgres
{
    private static readonly Lazy<Task<PostgresServer>> Server = new(() => PostgresServer.StartAsync());

    public static async Task<string> CreateDatabaseAsync() => await (await Server.Value).CreateDatabaseAsync();
}
