using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Scheduler.Tests;

public class KillTests() : ClusterTest(processors: 1)
{
    [Fact]
    public async Task Kill_stops_a_queued_job_before_it_is_placed()
    {
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")], Constraints = new JobConstraints { Node = "elsewhere" } });
        using var response = await Cluster.Client.PostAsync($"/scheduler/jobs/{id}/kill", null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var status = (await response.Content.ReadFromJsonAsync<JobStatusView>(DroverJson.Options))!;
        Assert.Equal((JobState.Stopped, JobStatus.Error, StopReason.Killed), (status.State, status.Status, status.Reason));
        Assert.Empty((await Cluster.JobAsync(id)).Attempts);
    }

    [Fact]
    public async Task Kill_stops_a_running_job_on_its_node_and_it_is_not_retried()
    {
        var pidFile = Path.Combine(Cluster.Directory, "pid");
        var id = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell($"echo $$ > {pidFile}; exec sleep 60")], MaxAttempts = 3 });
        await Cluster.WaitForAsync(id, s => s.State == JobState.Running);
        await Cluster.Eventually(() => Task.FromResult(File.Exists(pidFile) && File.ReadAllText(pidFile).Trim().Length > 0), 30, "the job to write its pid");
        var pid = int.Parse(File.ReadAllText(pidFile).Trim(), System.Globalization.CultureInfo.InvariantCulture);

        using var response = await Cluster.Client.PostAsync($"/scheduler/jobs/{id}/kill", null);
        Assert.True(response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted);
        var status = await Cluster.WaitStoppedAsync(id);
        Assert.Equal((JobStatus.Error, StopReason.Killed), (status.Status, status.Reason));
        Assert.Single((await Cluster.JobAsync(id)).Attempts);
        await Cluster.Eventually(() => Task.FromResult(!Directory.Exists($"/proc/{pid}")), 30, "the job's process to end");

        // Killing a stopped job changes nothing.
        using var again = await Cluster.Client.PostAsync($"/scheduler/jobs/{id}/kill", null);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(StopReason.Killed, (await Cluster.StatusAsync(id)).Reason);
    }
}
