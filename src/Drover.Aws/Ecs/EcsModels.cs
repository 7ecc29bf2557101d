using System.Text.Json;
using System.Text.Json.Serialization;

namespace Drover.Aws.Ecs;

// The members of ECS's and CloudWatch Logs' JSON 1.1 shapes that Drover uses, named as on the wire.
// Statuses stay strings: AWS adds values over time, and an unknown one must not break reading a task.

public sealed record RunTaskRequest
{
    public required string Cluster { get; init; }
    public required string TaskDefinition { get; init; }
    public int? Count { get; init; }
    public string? LaunchType { get; init; }
    public NetworkConfiguration? NetworkConfiguration { get; init; }
    public TaskOverride? Overrides { get; init; }
    public string? StartedBy { get; init; }
    public string? ClientToken { get; init; }
}

public sealed record NetworkConfiguration
{
    public AwsVpcConfiguration? AwsvpcConfiguration { get; init; }
}

public sealed record AwsVpcConfiguration
{
    public IReadOnlyList<string> Subnets { get; init; } = [];
    public IReadOnlyList<string>? SecurityGroups { get; init; }

    /// <summary><c>ENABLED</c> or <c>DISABLED</c>.</summary>
    public string? AssignPublicIp { get; init; }
}

public sealed record TaskOverride
{
    public IReadOnlyList<ContainerOverride>? ContainerOverrides { get; init; }
}

public sealed record ContainerOverride
{
    public string? Name { get; init; }
    public IReadOnlyList<string>? Command { get; init; }
    public IReadOnlyList<KeyValuePair>? Environment { get; init; }
}

public sealed record KeyValuePair(string Name, string Value);

public sealed record RunTaskResponse
{
    public IReadOnlyList<EcsTask>? Tasks { get; init; }
    public IReadOnlyList<EcsFailure>? Failures { get; init; }
}

public sealed record DescribeTasksRequest
{
    public required string Cluster { get; init; }
    public required IReadOnlyList<string> Tasks { get; init; }
}

public sealed record DescribeTasksResponse
{
    public IReadOnlyList<EcsTask>? Tasks { get; init; }
    public IReadOnlyList<EcsFailure>? Failures { get; init; }
}

public sealed record StopTaskRequest
{
    public required string Cluster { get; init; }
    public required string Task { get; init; }
    public string? Reason { get; init; }
}

public sealed record StopTaskResponse
{
    public EcsTask? Task { get; init; }
}

public sealed record ListTasksRequest
{
    public required string Cluster { get; init; }
    public string? StartedBy { get; init; }

    /// <summary><c>RUNNING</c> (the default, which includes pending tasks) or <c>STOPPED</c>.</summary>
    public string? DesiredStatus { get; init; }
    public string? NextToken { get; init; }
    public int? MaxResults { get; init; }
}

public sealed record ListTasksResponse
{
    public IReadOnlyList<string>? TaskArns { get; init; }
    public string? NextToken { get; init; }
}

public sealed record DescribeClustersRequest
{
    public required IReadOnlyList<string> Clusters { get; init; }
}

public sealed record DescribeClustersResponse
{
    public IReadOnlyList<EcsCluster>? Clusters { get; init; }
    public IReadOnlyList<EcsFailure>? Failures { get; init; }
}

public sealed record EcsCluster
{
    public string? ClusterArn { get; init; }
    public string? ClusterName { get; init; }

    /// <summary><c>ACTIVE</c>, <c>PROVISIONING</c>, <c>DEPROVISIONING</c>, <c>FAILED</c>, <c>INACTIVE</c>.</summary>
    public string? Status { get; init; }
    public int RunningTasksCount { get; init; }
    public int PendingTasksCount { get; init; }
    public int RegisteredContainerInstancesCount { get; init; }
}

public sealed record EcsTask
{
    public string? TaskArn { get; init; }
    public string? ClusterArn { get; init; }
    public string? TaskDefinitionArn { get; init; }
    public string? LastStatus { get; init; }
    public string? DesiredStatus { get; init; }
    public string? StartedBy { get; init; }

    /// <summary>The overrides RunTask was given: the job's command and environment.</summary>
    public TaskOverride? Overrides { get; init; }
    public string? StopCode { get; init; }
    public string? StoppedReason { get; init; }

    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? CreatedAt { get; init; }

    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? StartedAt { get; init; }

    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? StoppingAt { get; init; }

    [JsonConverter(typeof(EpochSecondsConverter))]
    public DateTimeOffset? StoppedAt { get; init; }
    public IReadOnlyList<EcsContainer>? Containers { get; init; }
}

public sealed record EcsContainer
{
    public string? Name { get; init; }
    public string? LastStatus { get; init; }
    public int? ExitCode { get; init; }
    public string? Reason { get; init; }
}

public sealed record EcsFailure
{
    public string? Arn { get; init; }

    /// <summary><c>MISSING</c> for an unknown task; <c>RESOURCE:MEMORY</c>, <c>AGENT</c>, ... when placement failed.</summary>
    public string? Reason { get; init; }
    public string? Detail { get; init; }
}

public sealed record GetLogEventsRequest
{
    public required string LogGroupName { get; init; }
    public required string LogStreamName { get; init; }
    public string? NextToken { get; init; }
    public bool? StartFromHead { get; init; }
    public int? Limit { get; init; }
}

public sealed record GetLogEventsResponse
{
    public IReadOnlyList<OutputLogEvent>? Events { get; init; }
    public string? NextForwardToken { get; init; }
    public string? NextBackwardToken { get; init; }
}

/// <summary>One log line; CloudWatch Logs times are epoch milliseconds.</summary>
public sealed record OutputLogEvent
{
    public long? Timestamp { get; init; }
    public string? Message { get; init; }
    public long? IngestionTime { get; init; }
}

/// <summary>ECS times: epoch seconds, possibly with a fraction (<c>1700000000.123</c>).</summary>
public sealed class EpochSecondsConverter : JsonConverter<DateTimeOffset?>
{
    public override DateTimeOffset? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Null)
            return null;
        var seconds = reader.GetDouble();
        return DateTimeOffset.FromUnixTimeMilliseconds((long)Math.Round(seconds * 1000));
    }

    public override void Write(Utf8JsonWriter writer, DateTimeOffset? value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        if (value is { } time)
            writer.WriteNumberValue(time.ToUnixTimeMilliseconds() / 1000m);
        else
            writer.WriteNullValue();
    }
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(RunTaskRequest))]
[JsonSerializable(typeof(RunTaskResponse))]
[JsonSerializable(typeof(DescribeTasksRequest))]
[JsonSerializable(typeof(DescribeTasksResponse))]
[JsonSerializable(typeof(StopTaskRequest))]
[JsonSerializable(typeof(StopTaskResponse))]
[JsonSerializable(typeof(ListTasksRequest))]
[JsonSerializable(typeof(ListTasksResponse))]
[JsonSerializable(typeof(DescribeClustersRequest))]
[JsonSerializable(typeof(DescribeClustersResponse))]
[JsonSerializable(typeof(GetLogEventsRequest))]
[JsonSerializable(typeof(GetLogEventsResponse))]
internal sealed partial class AwsJsonContext : JsonSerializerContext;
