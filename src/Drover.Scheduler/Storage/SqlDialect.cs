using System.Data.Common;
using Drover.Scheduler.Storage.Postgres;
using Drover.Scheduler.Storage.Sqlite;

namespace Drover.Scheduler.Storage;

/// <summary>
/// What differs between the store's engines; everything else (all of <see cref="JobStore"/>'s SQL) is written once.
/// As Quartz's <c>StdAdoDelegate</c> has its <c>SQLiteDelegate</c> and <c>PostgreSQLDelegate</c>: connections, the
/// schema and its migrations, row locks, the order of events, and wake-ups that cross processes.
/// </summary>
internal abstract class SqlDialect : IAsyncDisposable
{
    /// <summary><c>sqlite</c> or <c>postgresql</c>, as <c>/scheduler/info</c> and the logs name it.</summary>
    public abstract string Engine { get; }

    /// <summary>True when no other scheduler can use the database while this one does (SQLite: the file is locked).</summary>
    public abstract bool Exclusive { get; }

    public abstract Task<DbConnection> OpenAsync(CancellationToken cancellationToken);

    /// <summary>A read-only transaction in which every query sees the same snapshot.</summary>
    public abstract Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary>Creates or migrates the schema; safe when several schedulers start at once.</summary>
    public abstract Task MigrateAsync(CancellationToken cancellationToken);

    /// <summary>Appended to a query that reads rows the transaction will change: locks them against other schedulers.</summary>
    public virtual string ForUpdate => "";

    /// <summary>As <see cref="ForUpdate"/>, passing over rows another scheduler holds (the queue's claim).</summary>
    public virtual string ForUpdateSkipLocked => "";

    /// <summary>
    /// <c>column</c> is one of the list parameter's values. Dapper expands a list into <c>IN (@p1, @p2, ...)</c>
    /// for SQLite and passes it to Npgsql as one array, which PostgreSQL matches with <c>= ANY</c>.
    /// </summary>
    public virtual string In(string column, string listParameter) => $"{column} IN {listParameter}";

    /// <summary>The text of the spec's <c>constraints.labels[key]</c>, the key given by a parameter.</summary>
    public abstract string LabelOfSpec(string keyParameter);

    /// <summary>The spec's <c>commands</c> as JSON text, for a word search.</summary>
    public abstract string CommandsOfSpec { get; }

    /// <summary>
    /// Called once in every transaction that appends events, right before it does and then commits. Event readers
    /// follow <c>seq</c>; it must grow in commit order, or a reader that has passed a number misses a transaction
    /// that took a smaller one and committed later.
    /// </summary>
    public virtual Task BeforeEventsAsync(DbConnection connection, DbTransaction transaction) => Task.CompletedTask;

    /// <summary>Tells other schedulers, at commit, that events were written and (<paramref name="work"/>) that jobs may be placed.</summary>
    public virtual Task NotifyAsync(DbConnection connection, DbTransaction transaction, bool work) => Task.CompletedTask;

    /// <summary>Hears what other schedulers' commits notify, until cancelled; nothing for an engine without other schedulers.</summary>
    public virtual Task ListenAsync(Action<bool> notified, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>A conflict worth running the transaction again for (a deadlock, a serialization failure).</summary>
    public virtual bool IsTransient(Exception error) => false;

    public abstract ValueTask DisposeAsync();

    /// <summary>A PostgreSQL URI (<c>postgresql://</c>, <c>postgres://</c>) or Npgsql's keyword form; anything else is a SQLite file.</summary>
    public static bool IsPostgres(string database) =>
        database.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase)
        || database.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
        || database.Contains("host=", StringComparison.OrdinalIgnoreCase);

    public static SqlDialect Create(string database) =>
        IsPostgres(database) ? new PostgresDialect(database) : new SqliteDialect(database);
}
