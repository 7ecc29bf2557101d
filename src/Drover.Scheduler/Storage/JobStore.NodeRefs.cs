using Dapper;

namespace Drover.Scheduler.Storage;

/// <summary>The node's own reference of an attempt (an ECS task ARN), beside the scheduler's <c>backend_ref</c>.</summary>
internal sealed partial class JobStore
{
    public Task SetNodeRefAsync(long jobId, int number, string nodeRef, CancellationToken cancellationToken) =>
        WriteAsync(async w => await w.Connection.ExecuteAsync(
            "UPDATE attempts SET node_ref = @nodeRef WHERE job_id = @jobId AND number = @number",
            new { jobId, number = (long)number, nodeRef }, w.Transaction), cancellationToken);

    public async Task<IReadOnlyDictionary<string, string>> GetNodeRefsAsync(
        string node, IReadOnlyList<(long JobId, int Number)> attempts, CancellationToken cancellationToken)
    {
        if (attempts.Count == 0)
            return new Dictionary<string, string>();
        var wanted = attempts.ToHashSet();
        await using var connection = await OpenAsync(cancellationToken);
        // By job id, which the primary key leads with; attempts of those jobs that were not asked for are dropped here.
        var rows = await connection.QueryAsync<(long JobId, long Number, string BackendRef, string NodeRef)>(
            """
            SELECT job_id, number, backend_ref, node_ref FROM attempts
            WHERE job_id IN @jobIds AND node = @node AND node_ref IS NOT NULL
            """,
            new { jobIds = wanted.Select(a => a.JobId).Distinct().ToList(), node });
        return rows.Where(r => wanted.Contains((r.JobId, (int)r.Number)))
            .ToDictionary(r => r.BackendRef, r => r.NodeRef, StringComparer.Ordinal);
    }
}
