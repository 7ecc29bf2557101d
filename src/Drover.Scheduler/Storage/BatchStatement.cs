using System.Data.Common;

namespace Drover.Scheduler.Storage;

/// <summary>
/// One statement made once and run for every item of a batch. Run through Dapper in a loop, a statement is built
/// (and under Microsoft.Data.Sqlite parsed and planned) again for each item: in the placement loop's claims and in
/// the changes it applies, that was a large share of the scheduler's time.
/// </summary>
internal sealed class BatchStatement : IDisposable
{
    private readonly DbCommand _command;

    /// <param name="names">The statement's parameters (e.g. <c>@JobId</c>), in the order <see cref="RunAsync"/> takes their values.</param>
    public BatchStatement(DbConnection connection, DbTransaction transaction, string sql, params string[] names)
    {
        _command = connection.CreateCommand();
        _command.Transaction = transaction;
        _command.CommandText = sql;
        foreach (var name in names)
        {
            var parameter = _command.CreateParameter();
            parameter.ParameterName = name;
            _command.Parameters.Add(parameter);
        }
    }

    /// <summary>Runs the statement with these parameter values (null for NULL); the number of rows it changed.</summary>
    public Task<int> RunAsync(params object?[] values) => Bind(values).ExecuteNonQueryAsync();

    /// <summary>Runs the statement as a query; the reader must be disposed before the statement runs again.</summary>
    public Task<DbDataReader> ReadAsync(params object?[] values) => Bind(values).ExecuteReaderAsync();

    /// <summary>Runs the statement and gives the first column of its first row; null when there is no row (or it is NULL).</summary>
    public async Task<long?> ScalarAsync(params object?[] values) =>
        await Bind(values).ExecuteScalarAsync() is long value ? value : null;

    private DbCommand Bind(object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
            _command.Parameters[i].Value = values[i] ?? DBNull.Value;
        return _command;
    }

    public void Dispose() => _command.Dispose();
}
