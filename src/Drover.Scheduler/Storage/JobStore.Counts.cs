using Dapper;

namespace Drover.Scheduler.Storage;

/// <summary>What the metrics' gauges read when Prometheus scrapes: counts, never rows.</summary>
internal sealed partial class JobStore
{
    public async Task<JobCounts> CountJobsAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken);
        // One scan of the jobs table a scrape; the queue's oldest comes off the state index.
        var byState = (await connection.QueryAsync<JobCount>(
            "SELECT state, status, reason, COUNT(*) AS count FROM jobs GROUP BY state, status, reason")).AsList();
        var oldest = await connection.ExecuteScalarAsync<long?>("SELECT MIN(created_at) FROM jobs WHERE state = 'queued'");
        var active = await connection.QueryAsync<(string Node, long Count)>(
            "SELECT node, COUNT(*) FROM attempts WHERE state IN ('placed', 'running') GROUP BY node");
        return new JobCounts(byState, oldest, active.ToDictionary(r => r.Node, r => (int)r.Count, StringComparer.Ordinal));
    }
}
