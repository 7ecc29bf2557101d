using Drover.Contracts;

namespace Drover.Scheduler.Tests;

public class LogFollowTests() : ClusterTest(processors: 1)
{
    [Fact]
    public async Task Following_a_log_through_the_scheduler_streams_output_as_it_comes()
    {
        var gate = Path.Combine(Cluster.Directory, "gate");
        // The job prints, then waits until the test has seen that line before it prints again.
        var id = await Cluster.SubmitAsync(new JobSpec
        {
            Commands = [CommandSpec.FromShell($"echo first; while [ ! -e {gate} ]; do sleep 0.1; done; echo second")],
        });
        using var response = await Cluster.Client.GetAsync($"/scheduler/jobs/{id}/log?follow=true", HttpCompletionOption.ResponseHeadersRead);
        response.EnsureSuccessStatusCode();
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(45));
        Assert.Equal("first", await reader.ReadLineAsync(timeout.Token));
        Assert.NotEqual(JobState.Stopped, (await Cluster.StatusAsync(id)).State);

        await File.WriteAllTextAsync(gate, "");
        Assert.Equal("second", await reader.ReadLineAsync(timeout.Token));
        Assert.Equal("", await reader.ReadToEndAsync(timeout.Token)); // the stream ends when the job stops
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(id)).Status);
    }
}
