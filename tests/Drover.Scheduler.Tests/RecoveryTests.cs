using System.Net;
using Dapper;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>
/// A scheduler that died between recording an attempt as placed and hearing back from the node finds out what
/// happened by asking the node; it never starts a second run of that attempt.
/// </summary>
public class RecoveryTests() : ClusterTest(processors: 1)
{
    [Fact]
    public async Task Placed_attempts_found_at_start_are_asked_about_and_sent_again_only_when_the_node_never_got_them()
    {
        var runs = Path.Combine(Cluster.Directory, "runs");
        var command = $"echo $DROVER_JOB_ID >> {runs}";
        await Cluster.StopSchedulerAsync();

        // As a crash would leave them: job 101's start never reached the node; job 102's did and it ran there.
        var spec = $$"""{"commands": [{"shell": "{{command}}"}], "environment": {}, "max_attempts": 1, "priority": 0, "files": []}""";
        await using (var db = await Cluster.OpenDatabaseAsync())
        {
            foreach (var id in new[] { 101, 102 })
            {
                await db.ExecuteAsync(
                    """
                    INSERT INTO jobs (id, request_id, spec, state, status, priority, max_attempts, attempts, node, created_at, updated_at)
                    VALUES (@id, @requestId, @spec, 'placed', 'unknown', 0, 1, 1, 'n1', 0, 0);
                    INSERT INTO attempts (job_id, number, node, backend_ref, state, status, placed_at)
                    VALUES (@id, 1, 'n1', @backendRef, 'placed', 'unknown', 0);
                    """, new { id, requestId = $"r{id}", spec, backendRef = $"{id}-1" });
            }
        }
        using var node = new HttpClient { BaseAddress = Cluster.Nodes[0].Address };
        using var started = await node.PostAsync("/processor/jobs/new", new StringContent(
            $$"""{"commands": [{"shell": "{{command}}"}], "environment": {"DROVER_JOB_ID": "102"}, "request_id": "102-1"}""",
            System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, started.StatusCode);

        await Cluster.RestartSchedulerAsync();
        foreach (var id in new long[] { 101, 102 })
            Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
        Assert.Equal(["101", "102"], (await File.ReadAllLinesAsync(runs)).Order());
        foreach (var id in new long[] { 101, 102 })
            Assert.Equal("n1", Assert.Single((await Cluster.JobAsync(id)).Attempts).Node);
    }
}
