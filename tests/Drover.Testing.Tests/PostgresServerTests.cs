using System.Net.Sockets;
using Npgsql;

namespace Drover.Testing.Tests;

[Collection(PostgresGroup.Name)]
public sealed class PostgresServerTests(PostgresFixture postgres)
{
    [Fact]
    public async Task Each_database_is_fresh_empty_and_its_own()
    {
        var first = await postgres.Server.CreateDatabaseAsync();
        var second = await postgres.Server.CreateDatabaseAsync("drover_second");
        Assert.EndsWith("/drover_second", second, StringComparison.Ordinal);
        Assert.StartsWith($"postgresql://drover:", first, StringComparison.Ordinal);
        Assert.Contains($"@127.0.0.1:{postgres.Server.Port}/", first, StringComparison.Ordinal);

        await using (var connection = await OpenAsync(first))
        {
            Assert.Equal(new Uri(first).AbsolutePath.TrimStart('/'), await ScalarAsync<string>(connection, "SELECT current_database()"));
            Assert.Equal(0L, await ScalarAsync<long>(connection, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"));
            await ScalarAsync<int>(connection, "CREATE TABLE only_here (id int); SELECT 1");
        }
        await using (var connection = await OpenAsync(second))
        {
            Assert.Equal("drover_second", await ScalarAsync<string>(connection, "SELECT current_database()"));
            Assert.Equal(0L, await ScalarAsync<long>(connection, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"));
        }
    }

    [Fact]
    public async Task A_wrong_password_is_refused()
    {
        var uri = new Uri(await postgres.Server.CreateDatabaseAsync());
        var wrong = new UriBuilder(uri) { Password = "not-the-password" }.Uri;

        var refused = await Assert.ThrowsAsync<PostgresException>(() => OpenAsync(wrong.ToString()));
        Assert.Equal(PostgresErrorCodes.InvalidPassword, refused.SqlState);
    }

    [Fact]
    public async Task Dispose_stops_the_server()
    {
        var server = await PostgresServer.StartAsync();
        await using (var connection = await OpenAsync(await server.CreateDatabaseAsync()))
            Assert.Equal(1, await ScalarAsync<int>(connection, "SELECT 1"));

        await server.DisposeAsync();

        using var client = new TcpClient();
        await Assert.ThrowsAnyAsync<SocketException>(() => client.ConnectAsync("127.0.0.1", server.Port));
    }

    private static async Task<NpgsqlConnection> OpenAsync(string uri)
    {
        var parsed = new Uri(uri);
        var credentials = parsed.UserInfo.Split(':', 2);
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder
        {
            Host = parsed.Host, Port = parsed.Port, Database = parsed.AbsolutePath.TrimStart('/'), Pooling = false,
            Username = Uri.UnescapeDataString(credentials[0]), Password = Uri.UnescapeDataString(credentials[1]),
        }.ConnectionString);
        try
        {
            await connection.OpenAsync();
            return connection;
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
    }

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync())!;
    }
}
