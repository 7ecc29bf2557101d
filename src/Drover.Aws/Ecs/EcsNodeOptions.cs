namespace Drover.Aws.Ecs;

/// <summary>One ECS cluster used as a Drover node (<c>Aws:EcsNodes:N</c>).</summary>
public sealed class EcsNodeOptions
{
    /// <summary>The node's name in Drover (<c>GET /scheduler/nodes</c>, job constraints).</summary>
    public string Name { get; set; } = "";
    public string Region { get; set; } = "";
    public string Cluster { get; set; } = "";

    /// <summary>Family, <c>family:revision</c> or ARN of the task definition every job runs in.</summary>
    public string TaskDefinition { get; set; } = "";

    /// <summary>The essential container that runs the job's command; its exit code is the job's.</summary>
    public string ContainerName { get; set; } = "";

    /// <summary><c>FARGATE</c>, <c>EC2</c> or <c>EXTERNAL</c>; left out, the cluster's default capacity provider decides.</summary>
    public string? LaunchType { get; set; }
    public List<string> Subnets { get; } = [];
    public List<string> SecurityGroups { get; } = [];
    public bool AssignPublicIp { get; set; }

    /// <summary>The task definition's <c>awslogs-group</c> and <c>awslogs-stream-prefix</c>.</summary>
    public string LogGroup { get; set; } = "";
    public string LogStreamPrefix { get; set; } = "";

    /// <summary>Another ECS endpoint (an ECS-compatible service, or a test server); AWS's regional one when absent.</summary>
    public Uri? EndpointUrl { get; set; }

    /// <summary>The CloudWatch Logs endpoint; when absent, <see cref="EndpointUrl"/> if that is set, else AWS's.</summary>
    public Uri? LogsEndpointUrl { get; set; }

    /// <summary>
    /// How long a task may be unknown to DescribeTasks (<c>MISSING</c>) before its attempt counts as lost. ECS is
    /// eventually consistent right after RunTask, and forgets stopped tasks after about an hour.
    /// </summary>
    public TimeSpan MissingGrace { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>How often a followed log asks CloudWatch Logs for more.</summary>
    public TimeSpan LogPollInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How many attempts the scheduler may run on this node at once.</summary>
    public int Slots { get; set; } = 10;
    public Dictionary<string, string> Labels { get; } = [];
}
