using Drover.Aws.Ec2;
using Drover.Aws.Ecs;
using Drover.Aws.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Drover.Aws;

public static class AwsServiceCollectionExtensions
{
    /// <summary>
    /// ECS nodes and EC2 discovery from configuration (<c>Aws</c> by default): options validated at start, the signed
    /// AWS HTTP client, <see cref="EcsNodes"/> with their health checks, and <see cref="Ec2Processors"/> kept current.
    /// </summary>
    public static IServiceCollection AddDroverAws(this IServiceCollection services, string section = AwsOptions.Section)
    {
        services.AddOptions<AwsOptions>().BindConfiguration(section).ValidateDataAnnotations().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AwsOptions>, AwsOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddAwsHttpClient();
        services.TryAddSingleton<EcsNodes>();
        services.TryAddSingleton(provider => new Ec2Processors(
            provider.GetRequiredService<TimeProvider>(), provider.GetService<IDiscoveredNodeUsage>()));
        services.AddHostedService<EcsHealthService>();
        services.AddHostedService<Ec2DiscoveryService>();
        return services;
    }
}
