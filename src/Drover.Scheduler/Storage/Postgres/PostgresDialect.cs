using System.Data;
using System.Data.Common;
using System.Globalization;
using Dapper;
using Npgsql;

namespace Drover.Scheduler.Storage.Postgres;

/// <summary>
/// PostgreSQL: any number of schedulers over one database. Rows are locked where a transaction changes what it read
/// (the queue's claim passes over rows another scheduler holds), events are numbered in commit order, and commits
/// notify the other schedulers (LISTEN/NOTIFY) so that a job submitted to one is placed by any at once.
/// </summary>
internal sealed class PostgresDialect : SqlDialect
{
    /// <summary>Session lock held while the schema is migrated: schedulers starting together migrate one after another.</summary>
    private const long MigrationLock = 0x64726F7665720001;

    /// <summary>Transaction lock taken right before a transaction appends events: see <see cref="BeforeEventsAsync"/>.</summary>
    private const long EventsLock = 0x64726F7665720002;

    private const string Channel = "drover";

    private readonly NpgsqlDataSource _source;

    public PostgresDialect(string database)
    {
        _source = new NpgsqlDataSourceBuilder(ConnectionString(database)).Build();
    }

    public override string Engine => "postgresql";

    public override bool Exclusive => false;

    /// <summary>
    /// Npgsql's keyword form as it is, or a URI <c>postgresql://user:password@host:port/database?key=value</c> (query
    /// keys are Npgsql's keywords, e.g. <c>sslmode=require</c>). Without a password in it, Npgsql reads
    /// <c>PGPASSWORD</c> or the file <c>PGPASSFILE</c> names (or <c>~/.pgpass</c>): the password need not be on argv.
    /// </summary>
    public static string ConnectionString(string database)
    {
        var builder = new NpgsqlConnectionStringBuilder();
        if (!database.Contains("://", StringComparison.Ordinal))
        {
            builder.ConnectionString = database;
        }
        else
        {
            if (!Uri.TryCreate(database, UriKind.Absolute, out var uri) || string.IsNullOrEmpty(uri.Host))
                throw new ArgumentException("Scheduler:Database is not a postgresql://user:password@host:port/database URI");
            builder.Host = uri.DnsSafeHost;
            builder.Port = uri.Port > 0 ? uri.Port : 5432;
            builder.Database = Uri.UnescapeDataString(uri.AbsolutePath.TrimStart('/'));
            if (uri.UserInfo is { Length: > 0 } user)
            {
                var colon = user.IndexOf(':', StringComparison.Ordinal);
                builder.Username = Uri.UnescapeDataString(colon < 0 ? user : user[..colon]);
                if (colon >= 0)
                    builder.Password = Uri.UnescapeDataString(user[(colon + 1)..]);
            }
            foreach (var pair in uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = pair.IndexOf('=', StringComparison.Ordinal);
                var key = Uri.UnescapeDataString(equals < 0 ? pair : pair[..equals]);
                builder[key] = equals < 0 ? "" : Uri.UnescapeDataString(pair[(equals + 1)..]);
            }
        }
        builder.ApplicationName ??= "drover-scheduler";
        // The hot statements (claims, changes, events) are the same few texts: prepared once per connection.
        if (builder.MaxAutoPrepare == 0)
            builder.MaxAutoPrepare = 64;
        return builder.ConnectionString;
    }

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken) =>
        await _source.OpenConnectionAsync(cancellationToken);

    public override async Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, cancellationToken);

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _source.OpenConnectionAsync(cancellationToken);
        await connection.ExecuteAsync("SELECT pg_advisory_lock(@MigrationLock)", new { MigrationLock });
        try
        {
            await connection.ExecuteAsync("CREATE TABLE IF NOT EXISTS drover_schema (version BIGINT NOT NULL)");
            var version = await connection.ExecuteScalarAsync<long?>("SELECT MAX(version) FROM drover_schema") ?? 0;
            foreach (var (number, sql) in SchemaScripts.Read("postgres/"))
            {
                if (number <= version)
                    continue;
                await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
                await connection.ExecuteAsync(sql, transaction: transaction);
                await connection.ExecuteAsync("INSERT INTO drover_schema (version) VALUES (@number)", new { number }, transaction);
                await transaction.CommitAsync(cancellationToken);
            }
        }
        finally
        {
            await connection.ExecuteAsync("SELECT pg_advisory_unlock(@MigrationLock)", new { MigrationLock });
        }
    }

    public override string In(string column, string listParameter) => $"{column} = ANY({listParameter})";

    public override string ForUpdate => "FOR UPDATE";

    public override string ForUpdateSkipLocked => "FOR UPDATE SKIP LOCKED";

    public override string LabelOfSpec(string keyParameter) => $"(spec::jsonb -> 'constraints' -> 'labels' ->> {keyParameter})";

    public override string CommandsOfSpec => "(spec::jsonb -> 'commands')::text";

    /// <summary>
    /// Sequence numbers are drawn in statement order, not commit order: a reader that saw 11 committed could later
    /// find 10 commit, and a reader past 11 never reads it. Taking one lock from the first event to the commit makes
    /// the two orders the same; the lock is released only after the commit is visible. Held for the events' insert
    /// and the commit only, since events are written last (see <see cref="JobStore"/>'s write scope).
    /// </summary>
    public override async Task BeforeEventsAsync(DbConnection connection, DbTransaction transaction) =>
        await connection.ExecuteAsync("SELECT pg_advisory_xact_lock(@EventsLock)", new { EventsLock }, transaction);

    /// <summary>One NOTIFY per transaction, never one per job: NOTIFY serializes commits on a database-wide lock.</summary>
    public override async Task NotifyAsync(DbConnection connection, DbTransaction transaction, bool work) =>
        await connection.ExecuteAsync("SELECT pg_notify(@Channel, @payload)", new { Channel, payload = work ? "work" : "events" }, transaction);

    public override async Task ListenAsync(Action<bool> notified, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                await using var connection = await _source.OpenConnectionAsync(cancellationToken);
                connection.Notification += (_, e) => notified(e.Payload == "work");
                await connection.ExecuteAsync("LISTEN " + Channel);
                // Whatever was notified while no one listened is looked at now.
                notified(true);
                while (true)
                    await connection.WaitAsync(cancellationToken);
            }
            catch (Exception) when (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
        }
    }

    public override bool IsTransient(Exception error) =>
        error is PostgresException { SqlState: PostgresErrorCodes.SerializationFailure or PostgresErrorCodes.DeadlockDetected };

    public override async ValueTask DisposeAsync() => await _source.DisposeAsync();
}
