using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Drover.Scheduler.Storage;

/// <summary>
/// One statement prepared once and run for every item of a batch. Microsoft.Data.Sqlite keeps no prepared statements
/// across commands, so a statement run through Dapper in a loop is parsed and planned again for each item: in the
/// placement loop's claims and in the changes it applies, that was a large share of the scheduler's time.
/// </summary>
internal sealed class BatchStatement : IDisposable
{
    private readonly SqliteCommand _command;

    /// <param name="names">The statement's parameters (e.g. <c>@JobId</c>), in the order <see cref="RunAsync"/> takes their values.</param>
    public BatchStatement(SqliteConnection connection, DbTransaction transaction, string sql, params string[] names)
    {
        _command = connection.CreateCommand();
        _command.Transaction = (SqliteTransaction)transaction;
        _command.CommandText = sql;
        foreach (var name in names)
            _command.Parameters.Add(new SqliteParameter { ParameterName = name });
    }

    /// <summary>Runs the statement with these parameter values (null for NULL); the number of rows it changed.</summary>
    public Task<int> RunAsync(params object?[] values) => Bind(values).ExecuteNonQueryAsync();

    /// <summary>Runs the statement as a query; the reader must be disposed before the statement runs again.</summary>
    public Task<SqliteDataReader> ReadAsync(params object?[] values) => Bind(values).ExecuteReaderAsync();

    /// <summary>Runs the statement and gives the first column of its first row; null when there is no row (or it is NULL).</summary>
    public async Task<long?> ScalarAsync(params object?[] values) =>
        await Bind(values).ExecuteScalarAsync() is long value ? value : null;

    private SqliteCommand Bind(object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
            _command.Parameters[i].Value = values[i] ?? DBNull.Value;
        return _command;
    }

    public void Dispose() => _command.Dispose();
}
