using System.Globalization;
using System.Text;
using Dapper;

namespace Drover.Scheduler.Storage;

/// <summary>The dashboard's questions: the list's further filters and the overview's summary.</summary>
internal sealed partial class JobStore
{
    /// <summary>
    /// The filters beyond state, status, node and parent, as SQL of constant text (every value is a parameter). The
    /// spec is only read in the condition, never selected: a word search scans the commands of each candidate row.
    /// </summary>
    private (string Sql, DynamicParameters Parameters) MoreFilters(JobFilter filter)
    {
        var parameters = new DynamicParameters(filter);
        var sql = new StringBuilder();
        if (filter.Reason is not null)
            sql.Append("AND reason = @Reason ");
        if (filter.CreatedFrom is { } from)
        {
            sql.Append("AND created_at >= @CreatedFromMs ");
            parameters.Add("CreatedFromMs", from);
        }
        if (filter.CreatedBefore is { } before)
        {
            sql.Append("AND created_at < @CreatedBeforeMs ");
            parameters.Add("CreatedBeforeMs", before);
        }
        if (filter.Label is { } label)
        {
            // The key is quoted in the JSON path, so dots and slashes in it are part of the name (the API refuses a '"').
            sql.Append(CultureInfo.InvariantCulture, $"AND {_dialect.LabelOfSpec("@LabelKey")} = @LabelValue ");
            parameters.Add("LabelKey", label.Key);
            parameters.Add("LabelValue", label.Value);
        }
        for (var i = 0; i < filter.Words.Count; i++)
        {
            var name = string.Create(CultureInfo.InvariantCulture, $"Word{i}");
            sql.Append(CultureInfo.InvariantCulture, $"AND (request_id LIKE @{name} ESCAPE '\\' OR {_dialect.CommandsOfSpec} LIKE @{name} ESCAPE '\\') ");
            parameters.Add(name, "%" + EscapeLike(filter.Words[i]) + "%");
        }
        return (sql.ToString(), parameters);
    }

    private static string EscapeLike(string word) =>
        word.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal);

    public async Task<JobSummaryRows> SummarizeAsync(long since, int failures, CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        var counts = (await connection.QueryAsync<StateCount>(
            "SELECT state AS State, status AS Status, COUNT(*) AS Count FROM jobs GROUP BY state, status")).AsList();
        var submitted = (await connection.QueryAsync<MinuteCount>(
            "SELECT created_at / 60000 AS Minute, COUNT(*) AS Count FROM jobs WHERE created_at >= @since GROUP BY created_at / 60000",
            new { since })).AsList();
        var finished = (await connection.QueryAsync<MinuteCount>(
            "SELECT finished_at / 60000 AS Minute, COUNT(*) AS Count FROM jobs WHERE finished_at >= @since GROUP BY finished_at / 60000",
            new { since })).AsList();
        var failed = (await connection.QueryAsync<JobRow>(
            """
            SELECT id, request_id, state, status, reason, node, exit_code, message, created_at, updated_at, started_at, finished_at, attempts, parent
            FROM jobs WHERE status = 'error' ORDER BY finished_at DESC, id DESC LIMIT @failures
            """, new { failures })).AsList();
        return new JobSummaryRows(counts, submitted, finished, failed);
    }
}

internal sealed record JobSummaryRows(
    IReadOnlyList<StateCount> Counts, IReadOnlyList<MinuteCount> Submitted, IReadOnlyList<MinuteCount> Finished, IReadOnlyList<JobRow> Failures);

internal sealed class StateCount
{
    public string State { get; set; } = "";
    public string Status { get; set; } = "";
    public long Count { get; set; }
}

internal sealed class MinuteCount
{
    public long Minute { get; set; }
    public long Count { get; set; }
}
