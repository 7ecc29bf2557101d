using Drover.Aws.Ecs;
using Microsoft.Extensions.Options;

namespace Drover.Aws.Tests;

public sealed class OptionsTests
{
    [Fact]
    public void Every_configuration_mistake_is_reported_at_once()
    {
        var options = new AwsOptions { AccessKeyId = "AKID" };
        options.EcsNodes.Add(new EcsNodeOptions { Name = "ecs", Region = "eu-west-1", LaunchType = "FARGATE", Cluster = "c" });
        options.EcsNodes.Add(new EcsNodeOptions { Name = "ecs", LaunchType = "MOON" });
        options.Ec2Discovery.Enabled = true;
        options.Ec2Discovery.Port = 0;

        var result = new AwsOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains(failures, f => f.Contains("SecretAccessKey", StringComparison.Ordinal));
        Assert.Contains("Aws:EcsNodes:0:TaskDefinition is required", failures);
        Assert.Contains(failures, f => f.StartsWith("Aws:EcsNodes:0:Subnets", StringComparison.Ordinal));
        Assert.Contains("Aws:EcsNodes:1:Name \"ecs\" is used twice", failures);
        Assert.Contains("Aws:EcsNodes:1:LaunchType must be FARGATE, EC2 or EXTERNAL", failures);
        Assert.Contains("Aws:Ec2Discovery:Region is required", failures);
        Assert.Contains("Aws:Ec2Discovery:Port must be a TCP port", failures);
    }

    [Fact]
    public void Started_by_fits_ECS_limit_of_36_characters_and_stays_unique()
    {
        Assert.Equal("drover-42-1", EcsNode.StartedBy(42, 1));
        var longest = EcsNode.StartedBy(long.MaxValue, int.MaxValue);
        Assert.True(longest.Length <= 36);
        Assert.Matches("^[A-Za-z0-9_/-]+$", longest);
        Assert.NotEqual(longest, EcsNode.StartedBy(long.MaxValue, int.MaxValue - 1));
    }

    [Fact]
    public void One_command_is_passed_as_its_argv_and_several_go_through_a_fixed_script_as_arguments()
    {
        Assert.Equal(["echo", "a b"], EcsCommand.ToContainerCommand([Contracts.CommandSpec.FromArgv("echo", "a b")]));
        var several = EcsCommand.ToContainerCommand([Contracts.CommandSpec.FromArgv("echo", "$x"), Contracts.CommandSpec.FromShell("exit 2")]);
        Assert.Equal(["/bin/sh", "-c", EcsCommand.RunInOrderScript, "drover", "2", "echo", "$x", "3", "/bin/sh", "-c", "exit 2"], several);
    }
}
