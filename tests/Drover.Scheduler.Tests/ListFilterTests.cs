using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>The list's filters the dashboard uses (reason, label, submitted between, words) and the overview's summary.</summary>
public class ListFilterTests() : ClusterTest(processors: 0)
{
    private async Task<long[]> IdsAsync(string query) =>
        (await Cluster.Client.GetFromJsonAsync<JobPage>("/scheduler/jobs?" + query, DroverJson.Options))!.Jobs.Select(j => j.JobId).ToArray();

    [Fact]
    public async Task Reason_label_time_and_words_narrow_the_list()
    {
        // No node: every job stays queued, so nothing but the filters changes between the calls.
        var build = await Cluster.SubmitAsync("""{"commands": [{"exec": ["make", "part1"]}], "constraints": {"labels": {"gpu": "true"}}}""");
        var deploy = await Cluster.SubmitAsync("""{"commands": [{"shell": "make deploy_all 100%"}], "request_id": "nightly-deploy"}""");
        await Task.Delay(50);
        var between = DateTimeOffset.UtcNow;
        await Task.Delay(50);
        var other = await Cluster.SubmitAsync("""{"commands": [{"exec": ["echo", "part1"]}], "constraints": {"labels": {"gpu": "false", "zone.name": "a"}}}""");
        (await Cluster.Client.PostAsync($"/scheduler/jobs/{other}/kill", null)).EnsureSuccessStatusCode();

        Assert.Equal([build, other], await IdsAsync("q=part1"));
        Assert.Equal([build], await IdsAsync("q=make%20part1"));
        Assert.Equal([deploy], await IdsAsync("q=nightly"));
        Assert.Equal([deploy], await IdsAsync("q=100%25"));   // % is a character, not a pattern
        Assert.Equal([deploy], await IdsAsync("q=deploy_"));
        Assert.Empty(await IdsAsync("q=dep_oy"));
        Assert.Equal([build], await IdsAsync("label=gpu=true"));
        Assert.Equal([other], await IdsAsync("label=zone.name=a"));
        Assert.Equal([other], await IdsAsync("reason=killed"));
        Assert.Equal([other], await IdsAsync("submitted_after=" + Uri.EscapeDataString(between.ToString("O"))));
        Assert.Equal([build, deploy], await IdsAsync("submitted_before=" + Uri.EscapeDataString(between.ToString("O"))));
        Assert.Equal([build], await IdsAsync("state=queued&q=make&label=gpu=true"));
    }

    [Theory]
    [InlineData("reason=tired", "reason")]
    [InlineData("label=gpu", "label")]
    [InlineData("submitted_after=yesterday", "submitted_after")]
    [InlineData("submitted_before=2026-13-01", "submitted_before")]
    [InlineData("q=a%20b%20c%20d%20e%20f%20g%20h%20i", "q")]
    public async Task A_bad_filter_is_a_problem_naming_it(string query, string field)
    {
        using var response = await Cluster.Client.GetAsync("/scheduler/jobs?" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    [Fact]
    public async Task The_summary_counts_states_minutes_and_failures()
    {
        var first = await Cluster.SubmitAsync("""{"commands": [{"exec": ["true"]}]}""");
        var second = await Cluster.SubmitAsync("""{"commands": [{"exec": ["true"]}]}""");
        await Cluster.SubmitAsync("""{"commands": [{"exec": ["true"]}]}""");
        (await Cluster.Client.PostAsync($"/scheduler/jobs/{first}/kill", null)).EnsureSuccessStatusCode();
        (await Cluster.Client.PostAsync($"/scheduler/jobs/{second}/kill", null)).EnsureSuccessStatusCode();

        var summary = (await Cluster.Client.GetFromJsonAsync<JobSummary>("/scheduler/jobs/summary?minutes=5", DroverJson.Options))!;
        Assert.Equal(3, summary.Total);
        Assert.Equal(1, summary.QueueDepth);
        Assert.Equal(1, summary.ByState["queued"]);
        Assert.Equal(2, summary.ByState["stopped"]);
        Assert.Equal(0, summary.ByState["running"]);
        Assert.Equal(2, summary.ByStatus["error"]);
        Assert.Equal(5, summary.SubmittedPerMinute.Count);
        Assert.Equal(3, summary.SubmittedPerMinute.Sum());
        Assert.Equal(2, summary.FinishedPerMinute.Sum());
        Assert.Equal([second, first], summary.RecentFailures.Select(f => f.JobId));
        Assert.All(summary.RecentFailures, f => Assert.Equal(StopReason.Killed, f.Reason));

        using var bad = await Cluster.Client.GetAsync("/scheduler/jobs/summary?minutes=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }
}
