using Drover.Contracts;

namespace Drover.Scheduler.Tests;

/// <summary>Jobs that call jobs: children submitted with the job's own token, waiting for them, parents a job token may name.</summary>
public class DagChildrenTests() : ClusterTest(0, "--Scheduler:JobTokenKey=job-key")
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await Cluster.AddNodeAsync("n1", slots: 8);
    }

    private static string Submit(string command, string extra = "") =>
        $"curl -sf -o /dev/null -H \"Authorization: Bearer $DROVER_TOKEN\" --data-urlencode 'command={command}' {extra} \"$DROVER_URL/scheduler/jobs/new\"";

    [Fact]
    public async Task A_job_submits_its_children_with_curl_and_waits_for_them()
    {
        var script = string.Join(" && ", Enumerable.Range(0, 3).Select(i => Submit($"sleep 0.{i + 3}")));
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(script)], WaitForChildren = true, MaxAttempts = 1 });

        // Its commands end before its children do: it waits, running, for them.
        await Cluster.Eventually(async () => (await Cluster.JobAsync(parent)).AwaitingChildren, 30, "the parent to wait for its children");
        var record = await Cluster.JobAsync(parent);
        Assert.Equal(JobState.Running, record.State);
        Assert.Equal(3, record.Children.Count);

        var done = await Cluster.WaitStoppedAsync(parent);
        Assert.Equal(JobStatus.Good, done.Status);
        foreach (var child in record.Children)
        {
            var status = await Cluster.StatusAsync(child);
            Assert.Equal((JobState.Stopped, JobStatus.Good, parent), (status.State, status.Status, status.Parent));
            Assert.True(done.FinishedAt >= status.FinishedAt);
        }
        var dag = await DagTests.DagAsync(Cluster, record.Children[0]);
        Assert.Equal((parent, 4, JobStatus.Good), (dag.Root, dag.Jobs.Count, dag.Status));
        Assert.All(dag.Edges, e => Assert.Equal(("child", parent), (e.Kind, e.From)));
    }

    [Fact]
    public async Task A_parent_that_waits_ends_in_error_when_a_child_fails()
    {
        var script = Submit("true") + " && " + Submit("false", "-d max_attempts=1");
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(script)], WaitForChildren = true, MaxAttempts = 1 });
        var done = await Cluster.WaitStoppedAsync(parent);
        Assert.Equal((JobStatus.Error, StopReason.ChildrenFailed), (done.Status, done.Reason));
        Assert.Equal(2, (await Cluster.JobAsync(parent)).Children.Count);
    }

    [Fact]
    public async Task A_parent_waiting_for_its_children_is_killed_at_once()
    {
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(Submit("sleep 30"))], WaitForChildren = true, MaxAttempts = 1 });
        await Cluster.Eventually(async () => (await Cluster.JobAsync(parent)).AwaitingChildren, 30, "the parent to wait for its children");
        using var kill = await Cluster.Client.PostAsync($"/scheduler/jobs/{parent}/kill", null);
        Assert.Equal(System.Net.HttpStatusCode.OK, kill.StatusCode);
        var status = await Cluster.StatusAsync(parent);
        Assert.Equal((JobState.Stopped, JobStatus.Error, StopReason.Killed), (status.State, status.Status, status.Reason));
        var child = Assert.Single((await Cluster.JobAsync(parent)).Children);
        Assert.NotEqual(JobState.Stopped, (await Cluster.StatusAsync(child)).State); // without ?descendants=true the child runs on
        using var killChild = await Cluster.Client.PostAsync($"/scheduler/jobs/{child}/kill", null);
        await Cluster.WaitStoppedAsync(child);
    }

    [Fact]
    public async Task Drover_wait_in_a_job_exits_0_when_its_jobs_ended_good_and_1_otherwise()
    {
        var cli = Path.Combine(AppContext.BaseDirectory, "drover.dll");
        Assert.True(File.Exists(cli), cli);
        var codes = Path.Combine(Cluster.Directory, "wait-codes");
        const string Id = "sed -E 's/.*\"job_id\":([0-9]+).*/\\1/'";
        var script =
            $"good=$(curl -sf -H \"Authorization: Bearer $DROVER_TOKEN\" -d 'command=sleep 0.3' \"$DROVER_URL/scheduler/jobs/new\" | {Id}) && " +
            $"bad=$(curl -sf -H \"Authorization: Bearer $DROVER_TOKEN\" -d 'command=false' -d max_attempts=1 \"$DROVER_URL/scheduler/jobs/new\" | {Id}) && " +
            $"dotnet {cli} wait $good; echo $? >> {codes}; dotnet {cli} wait $good $bad; echo $? >> {codes}";
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(script)], MaxAttempts = 1 });
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(parent, 60)).Status);
        Assert.Equal(["0", "1"], await File.ReadAllLinesAsync(codes));
        var children = (await Cluster.JobAsync(parent)).Children;
        Assert.Equal(2, children.Count);
        foreach (var child in children)
            Assert.Equal(JobState.Stopped, (await Cluster.StatusAsync(child)).State);
    }

    [Fact]
    public async Task A_job_token_names_a_parent_inside_its_own_dag_only()
    {
        var stranger = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        var sibling = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromArgv("true")] });
        var codes = Path.Combine(Cluster.Directory, "codes");
        string Call(long parent) =>
            $"curl -s -o /dev/null -w '%{{http_code}} ' -H \"Authorization: Bearer $DROVER_TOKEN\" -d 'command=true' -d parent={parent} \"$DROVER_URL/scheduler/jobs/new\" >> {codes}";
        // The first child (parent from the token) is inside the DAG; naming it as a parent is allowed, naming a stranger is not.
        var script = Submit("true") + $" && child=$(curl -sf -H \"Authorization: Bearer $DROVER_TOKEN\" \"$DROVER_URL/scheduler/jobs?parent=$DROVER_JOB_ID\" | sed -E 's/.*\"job_id\":([0-9]+).*/\\1/')"
            + $" && {Call(stranger)}"
            + $" && curl -s -o /dev/null -w '%{{http_code}} ' -H \"Authorization: Bearer $DROVER_TOKEN\" -d 'command=true' -d parent=$child \"$DROVER_URL/scheduler/jobs/new\" >> {codes}";
        var parent = await Cluster.SubmitAsync(new JobSpec { Commands = [CommandSpec.FromShell(script)], MaxAttempts = 1 });
        Assert.Equal(JobStatus.Good, (await Cluster.WaitStoppedAsync(parent)).Status);
        Assert.Equal("403 202", (await File.ReadAllTextAsync(codes)).Trim());
        Assert.Empty((await Cluster.JobAsync(stranger)).Children);
        Assert.Empty((await Cluster.JobAsync(sibling)).Children);
        var child = Assert.Single((await Cluster.JobAsync(parent)).Children);
        var grandchild = Assert.Single((await Cluster.JobAsync(child)).Children);
        Assert.Equal(parent, (await Cluster.JobAsync(grandchild)).Root);
    }
}
