using Drover.Aws.Http;

namespace Drover.Aws.Ecs;

/// <summary>The six calls Drover makes to ECS and CloudWatch Logs, typed, over <see cref="AwsJsonProtocol"/>.</summary>
public sealed class EcsClient(AwsJsonProtocol ecs, AwsJsonProtocol logs)
{
    public const string EcsTarget = "AmazonEC2ContainerServiceV20141113";
    public const string LogsTarget = "Logs_20140328";

    /// <summary>The client for one region; endpoints default to AWS's own, or the given ones (tests, ECS-compatible services).</summary>
    public static EcsClient Create(HttpClient http, string region, Uri? ecsEndpoint = null, Uri? logsEndpoint = null)
    {
        ecsEndpoint ??= new Uri($"https://ecs.{region}.amazonaws.com/");
        logsEndpoint ??= new Uri($"https://logs.{region}.amazonaws.com/");
        return new EcsClient(
            new AwsJsonProtocol(http, ecsEndpoint, region, "ecs", EcsTarget),
            new AwsJsonProtocol(http, logsEndpoint, region, "logs", LogsTarget));
    }

    public Task<RunTaskResponse> RunTaskAsync(RunTaskRequest request, CancellationToken cancellationToken) =>
        ecs.CallAsync("RunTask", request, AwsJsonContext.Default.RunTaskRequest, AwsJsonContext.Default.RunTaskResponse, cancellationToken);

    public Task<DescribeTasksResponse> DescribeTasksAsync(DescribeTasksRequest request, CancellationToken cancellationToken) =>
        ecs.CallAsync("DescribeTasks", request, AwsJsonContext.Default.DescribeTasksRequest, AwsJsonContext.Default.DescribeTasksResponse, cancellationToken);

    public Task<StopTaskResponse> StopTaskAsync(StopTaskRequest request, CancellationToken cancellationToken) =>
        ecs.CallAsync("StopTask", request, AwsJsonContext.Default.StopTaskRequest, AwsJsonContext.Default.StopTaskResponse, cancellationToken);

    public Task<ListTasksResponse> ListTasksAsync(ListTasksRequest request, CancellationToken cancellationToken) =>
        ecs.CallAsync("ListTasks", request, AwsJsonContext.Default.ListTasksRequest, AwsJsonContext.Default.ListTasksResponse, cancellationToken);

    public Task<DescribeClustersResponse> DescribeClustersAsync(DescribeClustersRequest request, CancellationToken cancellationToken) =>
        ecs.CallAsync("DescribeClusters", request, AwsJsonContext.Default.DescribeClustersRequest, AwsJsonContext.Default.DescribeClustersResponse, cancellationToken);

    public Task<GetLogEventsResponse> GetLogEventsAsync(GetLogEventsRequest request, CancellationToken cancellationToken) =>
        logs.CallAsync("GetLogEvents", request, AwsJsonContext.Default.GetLogEventsRequest, AwsJsonContext.Default.GetLogEventsResponse, cancellationToken);
}
