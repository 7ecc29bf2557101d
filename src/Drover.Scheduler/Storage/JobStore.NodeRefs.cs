namespace Drover.Scheduler.Storage;

/// <summary>The node's own reference of an attempt (an ECS task ARN), beside the scheduler's <c>backend_ref</c>.</summary>
internal sealed partial class JobStore
{
    /// <summary>Node references a start returned, written in the transaction that settles the start.</summary>
    private static async Task SaveNodeRefsAsync(Write w, IReadOnlyList<NodeRefRecord> nodeRefs)
    {
        foreach (var record in nodeRefs.OrderBy(r => r.JobId))
            await w.Statement("UPDATE attempts SET node_ref = @nodeRef WHERE job_id = @jobId AND number = @number", "@nodeRef", "@jobId", "@number")
                .RunAsync(record.NodeRef, record.JobId, (long)record.Number);
    }
}

/// <summary>An attempt's node reference, as its start returned it.</summary>
internal sealed record NodeRefRecord(long JobId, int Number, string NodeRef);
