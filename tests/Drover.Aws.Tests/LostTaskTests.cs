using Drover.Aws.Ecs;
using Drover.Aws.Tests.Fake;
using Drover.Contracts;
using Microsoft.Extensions.Time.Testing;

namespace Drover.Aws.Tests;

public sealed class LostTaskTests
{
    [Fact]
    public async Task A_task_ECS_no_longer_knows_is_lost_only_after_the_grace_period()
    {
        await using var fake = await FakeAws.StartAsync();
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = new AwsTestHost(fake, s => s["Aws:EcsNodes:0:MissingGrace"] = "00:02:00", time);
        var started = await host.Node.StartAsync(new EcsStartRequest
        {
            JobId = 11,
            Attempt = 1,
            IdempotencyKey = "11-1",
            Commands = [CommandSpec.FromArgv("sleep", "60")],
        }, CancellationToken.None);
        var arn = started.TaskArn!;
        await AwsTestHost.WaitFor(async () =>
            (await host.Node.StatusAsync([arn], CancellationToken.None)).TryGetValue(arn, out var s) && s.State == JobState.Running ? s : null,
            "the task to run");

        fake.Forget(arn);
        var early = await host.Node.StatusAsync([arn], CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(90));
        var stillEarly = await host.Node.StatusAsync([arn], CancellationToken.None);
        time.Advance(TimeSpan.FromSeconds(31));
        var late = await host.Node.StatusAsync([arn], CancellationToken.None);

        // Within the grace period the task is reported as last seen: running, not yet lost.
        Assert.Equal(JobState.Running, early[arn].State);
        Assert.Equal(JobState.Running, stillEarly[arn].State);
        var lost = late[arn];
        Assert.Equal(JobState.Stopped, lost.State);
        Assert.Equal(JobStatus.Error, lost.Status);
        Assert.Equal(StopReason.NodeLost, lost.Reason);
        Assert.Equal("MISSING", lost.LastStatus);
        Assert.Equal(StopReason.NodeLost, lost.ToNodeJobStatus("11-1").Reason);
        var never = "arn:aws:ecs:us-east-1:123456789012:task/drover-test/never-seen";
        Assert.Equal(JobState.Queued, (await host.Node.StatusAsync([never], CancellationToken.None))[never].State);
        Assert.Empty(fake.Rejections);
    }

    [Fact]
    public async Task A_poll_whose_call_fails_reports_nothing_and_marks_the_node_unhealthy_instead_of_throwing()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var host = new AwsTestHost(fake, s => s["Aws:MaxRetries"] = "0");
        fake.FailNext(1);

        var status = await host.Node.StatusAsync(["arn:aws:ecs:us-east-1:123456789012:task/drover-test/abc"], CancellationToken.None);

        Assert.Empty(status);
        Assert.False(host.Node.Health.Healthy);
        Assert.StartsWith("ServerException", host.Node.Health.Error, StringComparison.Ordinal);
    }
}
