using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>The queue lists jobs in the order placement takes them, across pages: priority, then age.</summary>
public class QueueOrderTests() : ClusterTest(processors: 0)
{
    [Fact]
    public async Task Pages_of_the_queue_follow_priority_then_age()
    {
        var ids = new List<long>();
        foreach (var priority in new[] { 0, 5, 0, 9, 5 })
            ids.Add(await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell("true")], Priority = priority }));
        var expected = new[] { ids[3], ids[1], ids[4], ids[0], ids[2] };

        var seen = new List<long>();
        long after = 0;
        while (true)
        {
            var page = (await Cluster.Client.GetFromJsonAsync<QueueList>($"/scheduler/queue?limit=2&after={after}", DroverJson.Options))!;
            if (page.Jobs.Count == 0)
                break;
            Assert.True(page.Jobs.Count <= 2);
            seen.AddRange(page.Jobs.Select(j => j.JobId));
            after = page.Jobs[^1].JobId;
        }
        Assert.Equal(expected, seen);
    }
}
