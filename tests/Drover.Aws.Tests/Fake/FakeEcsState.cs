using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Drover.Aws.Tests.Fake;

/// <summary>A task definition the test server knows: the container a task runs and where its awslogs go.</summary>
internal sealed record FakeTaskDefinition(string Family, string ContainerName, string LogGroup, string StreamPrefix);

/// <summary>One ECS task, run as a real local process so that exit codes, stops and logs are real.</summary>
internal sealed class FakeTask
{
    public required string Arn { get; init; }
    public required string Cluster { get; init; }
    public required FakeTaskDefinition Definition { get; init; }
    public required IReadOnlyList<string> Command { get; init; }
    public required IReadOnlyDictionary<string, string> Environment { get; init; }
    public string? StartedBy { get; init; }
    public string? LaunchType { get; init; }
    public JsonNode? Overrides { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public string LastStatus { get; set; } = "PROVISIONING";
    public string DesiredStatus { get; set; } = "RUNNING";
    public DateTimeOffset? StartedAt { get; set; }
    public DateTimeOffset? StoppingAt { get; set; }
    public DateTimeOffset? StoppedAt { get; set; }
    public int? ExitCode { get; set; }
    public string? ContainerReason { get; set; }
    public string? StopCode { get; set; }
    public string? StoppedReason { get; set; }
    public Process? Process { get; set; }
    public int Version { get; set; } = 1;

    public string TaskId => Arn[(Arn.LastIndexOf('/') + 1)..];
    public string LogStream => $"{Definition.StreamPrefix}/{Definition.ContainerName}/{TaskId}";

    public JsonObject ToJson(string region, string account)
    {
        var container = new JsonObject
        {
            ["containerArn"] = $"arn:aws:ecs:{region}:{account}:container/{Cluster}/{TaskId}/{Definition.ContainerName}",
            ["taskArn"] = Arn,
            ["name"] = Definition.ContainerName,
            ["lastStatus"] = LastStatus == "PROVISIONING" ? "PENDING" : LastStatus,
        };
        if (ExitCode is { } code)
            container["exitCode"] = code;
        if (ContainerReason is not null)
            container["reason"] = ContainerReason;
        var task = new JsonObject
        {
            ["taskArn"] = Arn,
            ["clusterArn"] = $"arn:aws:ecs:{region}:{account}:cluster/{Cluster}",
            ["taskDefinitionArn"] = $"arn:aws:ecs:{region}:{account}:task-definition/{Definition.Family}:1",
            ["lastStatus"] = LastStatus,
            ["desiredStatus"] = DesiredStatus,
            ["group"] = $"family:{Definition.Family}",
            ["version"] = Version,
            ["createdAt"] = Epoch(CreatedAt),
            ["containers"] = new JsonArray(container),
        };
        if (LaunchType is not null)
            task["launchType"] = LaunchType;
        if (StartedBy is not null)
            task["startedBy"] = StartedBy;
        if (Overrides is not null)
            task["overrides"] = Overrides.DeepClone();
        if (StartedAt is { } started)
            task["startedAt"] = Epoch(started);
        if (StoppingAt is { } stopping)
            task["stoppingAt"] = Epoch(stopping);
        if (StoppedAt is { } stopped)
            task["stoppedAt"] = Epoch(stopped);
        if (StopCode is not null)
            task["stopCode"] = StopCode;
        if (StoppedReason is not null)
            task["stoppedReason"] = StoppedReason;
        return task;
    }

    /// <summary>ECS times: epoch seconds with a fraction.</summary>
    private static double Epoch(DateTimeOffset time) =>
        double.Parse((time.ToUnixTimeMilliseconds() / 1000m).ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
}

internal sealed record FakeLogEvent(long Timestamp, string Message, long IngestionTime);

/// <summary>An EC2 instance as DescribeInstances lists it.</summary>
internal sealed record FakeInstance(string InstanceId, string PrivateIp, string State, IReadOnlyDictionary<string, string> Tags)
{
    public string PrivateDnsName => $"ip-{PrivateIp.Replace('.', '-')}.ec2.internal";
}
