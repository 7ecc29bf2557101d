using System.Data.Common;
using System.Globalization;
using Dapper;
using Drover.ServiceDefaults;
using Microsoft.Data.Sqlite;

namespace Drover.Scheduler.Storage.Sqlite;

/// <summary>
/// The embedded engine: one file, WAL journal, one writer at a time (writes are batched so that one transaction, and
/// one fsync, carries many changes), and one scheduler per file: the file is locked while a scheduler has it open.
/// </summary>
internal sealed class SqliteDialect : SqlDialect
{
    private readonly string _connectionString;
    private readonly FileStream _lock;

    // The physical connections whose pragmas are set: they persist while the pool keeps the connection open, and
    // setting them again on every open is three statements parsed and run for nothing on every call.
    private readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> _pragmasSet = [];

    public SqliteDialect(string database)
    {
        var path = Path.GetFullPath(database);
        MakePrivate(path);
        _lock = Lock(path);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = path,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
    }

    public override string Engine => "sqlite";

    public override bool Exclusive => true;

    /// <summary>
    /// A second scheduler on the same file would follow the same attempts and place the same jobs with none of the
    /// row locks PostgreSQL has: it is refused. The lock (flock) goes with the process, however it ends.
    /// </summary>
    private static FileStream Lock(string path)
    {
        try
        {
            var options = PrivateFiles.NewFile(FileMode.OpenOrCreate);
            options.Share = FileShare.None;
            return new FileStream(path + ".lock", options);
        }
        catch (IOException e)
        {
            throw new InvalidOperationException(
                $"Another scheduler is using the SQLite database {path} (its lock file {path}.lock is held). One SQLite "
                + "file serves one scheduler; several schedulers need a PostgreSQL database (Scheduler:Database=postgresql://...).", e);
        }
    }

    /// <summary>
    /// The database holds every job's environment: 0600, in a directory made 0700 when this makes it. SQLite gives its
    /// -wal and -shm files the database file's mode, so the file is made here, before SQLite first opens it.
    /// </summary>
    private static void MakePrivate(string path)
    {
        PrivateFiles.CreateDirectory(Path.GetDirectoryName(path)!);
        if (!File.Exists(path))
            new FileStream(path, PrivateFiles.NewFile(FileMode.CreateNew)).Dispose();
        foreach (var file in new[] { path, path + "-wal", path + "-shm", path + "-journal" })
            PrivateFiles.Restrict(file);
    }

    public override async Task<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync(cancellationToken);
        if (_pragmasSet.TryGetValue(connection.Handle!, out _))
            return connection;
        // synchronous=FULL: a 202 promises the job is on disk, and with NORMAL a WAL commit can be lost on power
        // failure (not on a process crash). Batched submissions make the extra fsync per transaction affordable.
        // busy_timeout: only this process writes, one transaction at a time (the store's group commit); this is for readers.
        using var pragma = connection.CreateCommand();
        pragma.CommandText = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000; PRAGMA foreign_keys = ON;";
        await pragma.ExecuteNonQueryAsync(cancellationToken);
        _pragmasSet.AddOrUpdate(connection.Handle!, connection.Handle!);
        return connection;
    }

    // A deferred transaction reads one WAL snapshot from its first read to its end.
    public override async Task<DbTransaction> BeginSnapshotAsync(DbConnection connection, CancellationToken cancellationToken) =>
        await Task.FromResult(((SqliteConnection)connection).BeginTransaction(deferred: true));

    public override async Task MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        await connection.ExecuteAsync("PRAGMA journal_mode = WAL;"); // persists in the file
        var version = await connection.ExecuteScalarAsync<long>("PRAGMA user_version;");
        foreach (var (number, sql) in SchemaScripts.Read("sqlite/"))
        {
            if (number <= version)
                continue;
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken);
            await connection.ExecuteAsync(sql, transaction: transaction);
            await connection.ExecuteAsync(string.Create(CultureInfo.InvariantCulture, $"PRAGMA user_version = {number};"), transaction: transaction);
            await transaction.CommitAsync(cancellationToken);
        }
    }

    public override string LabelOfSpec(string keyParameter) => $"json_extract(spec, '$.constraints.labels.\"' || {keyParameter} || '\"')";

    public override string CommandsOfSpec => "json_extract(spec, '$.commands')";

    public override async ValueTask DisposeAsync()
    {
        await _lock.DisposeAsync();
    }
}
