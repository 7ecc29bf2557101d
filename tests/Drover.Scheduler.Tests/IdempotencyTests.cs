using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

public class IdempotencyTests() : ClusterTest(processors: 1)
{
    [Fact]
    public async Task Racing_submissions_with_one_request_id_make_one_job()
    {
        var marker = Path.Combine(Cluster.Directory, "runs");
        var json = $$"""{"request_id": "same-123", "commands": [{"shell": "echo run >> {{marker}}"}]}""";
        var answers = await Task.WhenAll(Enumerable.Range(0, 24).Select(async _ =>
        {
            using var response = await Cluster.PostJsonAsync("/scheduler/jobs/new", json);
            Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
            return (await response.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!;
        }));
        var id = Assert.Single(answers.Select(a => a.JobId).Distinct());
        Assert.All(answers, a => Assert.Equal("same-123", a.RequestId));

        // The form spelling of the same request id is the same job too.
        using var form = await Cluster.PostFormAsync("/scheduler/jobs/new", ("command", "true"), ("request_id", "same-123"));
        Assert.Equal(id, (await form.Content.ReadFromJsonAsync<SubmitAnswer>(DroverJson.Options))!.JobId);

        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
        var page = await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs", DroverJson.Options);
        Assert.Equal(id, Assert.Single(page!.Jobs).JobId);
        Assert.Equal("run\n", await File.ReadAllTextAsync(marker));
    }
}
