using System.Globalization;
using Amazon;
using Amazon.EC2;
using Amazon.EC2.Model;
using Drover.Aws.Http;

namespace Drover.Aws.Ec2;

/// <summary>EC2 discovery of Processors (<c>Aws:Ec2Discovery</c>): running instances carrying a tag.</summary>
public sealed class Ec2DiscoveryOptions
{
    public bool Enabled { get; set; }
    public string Region { get; set; } = "";

    /// <summary>The tag that marks a Processor host; with <see cref="TagValue"/> empty, any value will do.</summary>
    public string TagKey { get; set; } = "drover:role";
    public string? TagValue { get; set; } = "processor";

    /// <summary>The port Processors listen on; each becomes <c>http://&lt;private ip&gt;:&lt;port&gt;</c>.</summary>
    public int Port { get; set; } = 8082;
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Instances asked for a page (EC2 allows 5 to 1000).</summary>
    public int PageSize { get; set; } = 100;

    /// <summary>Another EC2 endpoint (tests, EC2-compatible services); AWS's regional one when absent.</summary>
    public Uri? EndpointUrl { get; set; }
}

/// <summary>A running instance seen as a Processor node.</summary>
public sealed record DiscoveredProcessor
{
    /// <summary>The node's name: the instance id, unique and stable for the instance's life.</summary>
    public required string Name { get; init; }
    public required string Uri { get; init; }
    public required string InstanceId { get; init; }
    public string PrivateIp { get; init; } = "";
    public string PrivateDnsName { get; init; } = "";
    public IReadOnlyDictionary<string, string> Tags { get; init; } = new Dictionary<string, string>();

    /// <summary>What the node list shows about the instance beside its address.</summary>
    public IReadOnlyDictionary<string, string> Metadata()
    {
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["backend"] = "ec2",
            ["instance_id"] = InstanceId,
            ["private_dns_name"] = PrivateDnsName,
            ["private_ip"] = PrivateIp,
        };
        foreach (var (key, value) in Tags)
            metadata[$"tag:{key}"] = value;
        return metadata;
    }

    public bool SameAs(DiscoveredProcessor other) =>
        other is not null && Uri == other.Uri && PrivateDnsName == other.PrivateDnsName
        && Tags.Count == other.Tags.Count && Tags.All(t => other.Tags.TryGetValue(t.Key, out var v) && v == t.Value);
}

/// <summary>One DescribeInstances walk over every page; the SDK leaves absent collections null, so each is guarded.</summary>
public sealed class Ec2Discovery(IAmazonEC2 ec2, Ec2DiscoveryOptions options)
{
    public static IAmazonEC2 CreateClient(AwsOptions aws, Ec2DiscoveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(aws);
        ArgumentNullException.ThrowIfNull(options);
        var config = new AmazonEC2Config { MaxErrorRetry = aws.MaxRetries };
        if (options.EndpointUrl is { } endpoint)
        {
            config.ServiceURL = endpoint.ToString();
            config.AuthenticationRegion = options.Region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(options.Region);
        }
        return new AmazonEC2Client(AwsHttp.Credentials(aws), config);
    }

    public async Task<IReadOnlyList<DiscoveredProcessor>> ListAsync(CancellationToken cancellationToken)
    {
        var filters = new List<Filter> { new() { Name = "instance-state-name", Values = ["running"] } };
        filters.Add(string.IsNullOrEmpty(options.TagValue)
            ? new Filter { Name = "tag-key", Values = [options.TagKey] }
            : new Filter { Name = $"tag:{options.TagKey}", Values = [options.TagValue] });

        var found = new List<DiscoveredProcessor>();
        string? next = null;
        do
        {
            var page = await ec2.DescribeInstancesAsync(new DescribeInstancesRequest
            {
                Filters = filters,
                MaxResults = Math.Clamp(options.PageSize, 5, 1000),
                NextToken = next,
            }, cancellationToken);
            foreach (var instance in (page.Reservations ?? []).SelectMany(r => r.Instances ?? []))
            {
                // A running instance has a private address; one without (still being set up) is found next time.
                if (string.IsNullOrEmpty(instance.PrivateIpAddress) || string.IsNullOrEmpty(instance.InstanceId))
                    continue;
                found.Add(new DiscoveredProcessor
                {
                    Name = instance.InstanceId,
                    InstanceId = instance.InstanceId,
                    PrivateIp = instance.PrivateIpAddress,
                    PrivateDnsName = instance.PrivateDnsName ?? "",
                    Uri = $"http://{instance.PrivateIpAddress}:{options.Port.ToString(CultureInfo.InvariantCulture)}",
                    Tags = (instance.Tags ?? []).Where(t => t.Key is not null)
                        .GroupBy(t => t.Key, StringComparer.Ordinal)
                        .ToDictionary(g => g.Key, g => g.Last().Value ?? "", StringComparer.Ordinal),
                });
            }
            next = page.NextToken;
        }
        while (!string.IsNullOrEmpty(next));
        return found;
    }
}
