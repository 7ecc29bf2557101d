using System.Diagnostics;
using System.Text.Json;
using Drover.Aws.Tests.Fake;

namespace Drover.Aws.Tests;

/// <summary>
/// The test server checked against a client that is not Drover's: the <c>aws</c> command (Debian's awscli, with its
/// own botocore and signer). If it can run, describe and stop a task, the server speaks the wire protocol AWS does.
/// </summary>
public sealed class AwsCliTests
{
    [AwsCliFact]
    public async Task The_aws_command_runs_describes_and_stops_a_task_on_the_test_server()
    {
        await using var fake = await FakeAws.StartAsync();

        using var run = await Aws(fake, "ecs", "run-task", "--cluster", FakeAws.Cluster, "--task-definition", "drover-job",
            "--started-by", "aws-cli-check", "--launch-type", "FARGATE",
            "--overrides", """{"containerOverrides": [{"name": "main", "command": ["sh", "-c", "echo started; sleep 60"]}]}""");
        var task = run.RootElement.GetProperty("tasks")[0];
        var arn = task.GetProperty("taskArn").GetString()!;
        Assert.Equal("aws-cli-check", task.GetProperty("startedBy").GetString());
        await AwsTestHost.WaitFor(async () => fake.Task(arn)?.LastStatus == "RUNNING" ? "" : null, "the task to run");

        using var stopped = await Aws(fake, "ecs", "stop-task", "--cluster", FakeAws.Cluster, "--task", arn, "--reason", "stopped by the aws command");
        Assert.Equal("STOPPED", stopped.RootElement.GetProperty("task").GetProperty("desiredStatus").GetString());
        await AwsTestHost.WaitFor(async () => fake.Task(arn)?.LastStatus == "STOPPED" ? "" : null, "the task to stop");

        // Each call of the aws command costs seconds of Python start-up: one describe covers a stopped task and a missing one.
        using var described = await Aws(fake, "ecs", "describe-tasks", "--cluster", FakeAws.Cluster,
            "--tasks", arn, "arn:aws:ecs:us-east-1:123456789012:task/drover-test/nope");
        var end = described.RootElement.GetProperty("tasks")[0];
        Assert.Equal("STOPPED", end.GetProperty("lastStatus").GetString());
        Assert.Equal("UserInitiated", end.GetProperty("stopCode").GetString());
        Assert.Equal("stopped by the aws command", end.GetProperty("stoppedReason").GetString());
        Assert.NotEqual(0, end.GetProperty("containers")[0].GetProperty("exitCode").GetInt32());
        Assert.Equal("MISSING", described.RootElement.GetProperty("failures")[0].GetProperty("reason").GetString());

        Assert.Empty(fake.Rejections);
    }

    private static async Task<JsonDocument> Aws(FakeAws fake, params string[] args)
    {
        var home = Directory.CreateTempSubdirectory("drover-aws-cli-").FullName;
        try
        {
            var start = new ProcessStartInfo(AwsCli.Path!)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            foreach (var arg in args)
                start.ArgumentList.Add(arg);
            foreach (var arg in new[] { "--endpoint-url", fake.Url.ToString().TrimEnd('/'), "--region", FakeAws.Region, "--output", "json" })
                start.ArgumentList.Add(arg);
            foreach (var name in start.Environment.Keys.Where(k => k.StartsWith("AWS_", StringComparison.Ordinal)).ToList())
                start.Environment.Remove(name);
            start.Environment["HOME"] = home;
            start.Environment["AWS_ACCESS_KEY_ID"] = FakeAws.AccessKeyId;
            start.Environment["AWS_SECRET_ACCESS_KEY"] = FakeAws.SecretAccessKey;
            start.Environment["AWS_CONFIG_FILE"] = Path.Combine(home, "config");
            start.Environment["AWS_SHARED_CREDENTIALS_FILE"] = Path.Combine(home, "credentials");
            start.Environment["AWS_EC2_METADATA_DISABLED"] = "true";
            start.Environment["AWS_PAGER"] = "";
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(90));
            await process.WaitForExitAsync(limit.Token);
            Assert.True(process.ExitCode == 0, $"aws {string.Join(' ', args)} exited {process.ExitCode}: {await error}\nrejected: {string.Join("\n", fake.Rejections)}");
            return JsonDocument.Parse(await output);
        }
        finally
        {
            Directory.Delete(home, recursive: true);
        }
    }
}

internal static class AwsCli
{
    /// <summary><c>DROVER_TEST_AWS_CLI</c> when set, else Debian's aws (the package CI installs), else the first on PATH.</summary>
    public static string? Path { get; } = Environment.GetEnvironmentVariable("DROVER_TEST_AWS_CLI") is { Length: > 0 } chosen
        ? chosen
        : File.Exists("/usr/bin/aws")
            ? "/usr/bin/aws"
            : (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
                .Select(d => System.IO.Path.Combine(d, "aws")).FirstOrDefault(File.Exists);
}

/// <summary>A fact that is skipped, saying why, where the aws command is not installed.</summary>
public sealed class AwsCliFactAttribute : FactAttribute
{
    public AwsCliFactAttribute()
    {
        if (AwsCli.Path is null)
            Skip = "the aws command is not installed (Debian package awscli: apt-get install -y awscli)";
    }
}
