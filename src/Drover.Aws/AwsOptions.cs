using System.ComponentModel.DataAnnotations;
using Drover.Aws.Ec2;
using Drover.Aws.Ecs;
using Microsoft.Extensions.Options;

namespace Drover.Aws;

/// <summary>
/// The <c>Aws</c> configuration section: credentials (the standard AWS chain when left out), retry policy,
/// ECS clusters used as nodes, and EC2 discovery of Processors.
/// </summary>
public sealed class AwsOptions
{
    public const string Section = "Aws";

    /// <summary>Explicit credentials; when absent the standard chain is used (environment, profile, instance or task role).</summary>
    public string? AccessKeyId { get; set; }
    public string? SecretAccessKey { get; set; }
    public string? SessionToken { get; set; }

    /// <summary>Retries of a throttled or 5xx call (each one signed anew), with exponential backoff and jitter.</summary>
    [Range(0, 20)]
    public int MaxRetries { get; set; } = 4;
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Each attempt of a call ends after this long (and counts as a failure to retry).</summary>
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(20);

    /// <summary>How often each ECS node's cluster is checked with DescribeClusters.</summary>
    public TimeSpan EcsHealthInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Each ECS cluster named here is one Drover node.</summary>
    public List<EcsNodeOptions> EcsNodes { get; } = [];

    public Ec2DiscoveryOptions Ec2Discovery { get; set; } = new();
}

/// <summary>Rules across fields, every failure reported at once.</summary>
internal sealed class AwsOptionsValidator : IValidateOptions<AwsOptions>
{
    public ValidateOptionsResult Validate(string? name, AwsOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(options.AccessKeyId) != string.IsNullOrEmpty(options.SecretAccessKey))
            errors.Add("Aws:AccessKeyId and Aws:SecretAccessKey go together: give both or neither");
        if (options.EcsHealthInterval <= TimeSpan.Zero)
            errors.Add("Aws:EcsHealthInterval must be positive");
        if (options.RetryDelay <= TimeSpan.Zero)
            errors.Add("Aws:RetryDelay must be positive");
        if (options.AttemptTimeout <= TimeSpan.Zero)
            errors.Add("Aws:AttemptTimeout must be positive");
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < options.EcsNodes.Count; i++)
        {
            var node = options.EcsNodes[i];
            var at = $"Aws:EcsNodes:{i}";
            Require(errors, node.Name, $"{at}:Name");
            Require(errors, node.Region, $"{at}:Region");
            Require(errors, node.Cluster, $"{at}:Cluster");
            Require(errors, node.TaskDefinition, $"{at}:TaskDefinition");
            Require(errors, node.ContainerName, $"{at}:ContainerName");
            Require(errors, node.LogGroup, $"{at}:LogGroup");
            Require(errors, node.LogStreamPrefix, $"{at}:LogStreamPrefix");
            if (!string.IsNullOrEmpty(node.Name) && !names.Add(node.Name))
                errors.Add($"{at}:Name \"{node.Name}\" is used twice");
            if (node.LaunchType is not (null or "" or "FARGATE" or "EC2" or "EXTERNAL"))
                errors.Add($"{at}:LaunchType must be FARGATE, EC2 or EXTERNAL");
            if (node.LaunchType == "FARGATE" && node.Subnets.Count == 0)
                errors.Add($"{at}:Subnets: FARGATE tasks need at least one subnet (awsvpc networking)");
            if (node.EndpointUrl is { IsAbsoluteUri: false })
                errors.Add($"{at}:EndpointUrl must be an absolute URL");
            if (node.LogsEndpointUrl is { IsAbsoluteUri: false })
                errors.Add($"{at}:LogsEndpointUrl must be an absolute URL");
            if (node.MissingGrace < TimeSpan.Zero)
                errors.Add($"{at}:MissingGrace must not be negative");
            if (node.LogPollInterval <= TimeSpan.Zero)
                errors.Add($"{at}:LogPollInterval must be positive");
        }
        var ec2 = options.Ec2Discovery;
        if (ec2.Enabled)
        {
            Require(errors, ec2.Region, "Aws:Ec2Discovery:Region");
            Require(errors, ec2.TagKey, "Aws:Ec2Discovery:TagKey");
            if (ec2.Port is <= 0 or > 65535)
                errors.Add("Aws:Ec2Discovery:Port must be a TCP port");
            if (ec2.RefreshInterval <= TimeSpan.Zero)
                errors.Add("Aws:Ec2Discovery:RefreshInterval must be positive");
            if (ec2.PageSize is < 5 or > 1000)
                errors.Add("Aws:Ec2Discovery:PageSize must be between 5 and 1000");
            if (ec2.EndpointUrl is { IsAbsoluteUri: false })
                errors.Add("Aws:Ec2Discovery:EndpointUrl must be an absolute URL");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static void Require(List<string> errors, string? value, string key)
    {
        if (string.IsNullOrWhiteSpace(value))
            errors.Add($"{key} is required");
    }
}
