using Drover.Aws;
using Drover.EcsService.Jobs;
using Drover.EcsService.Nodes;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Drover.EcsService;

/// <summary>
/// One ECS cluster as a node-protocol server (docs/node-protocol.md): what the seed calls an API wrapper around a
/// SaaS that answers like our own service. It keeps no store: ECS holds every job as a task.
/// </summary>
public static class EcsNodeApp
{
    public static WebApplication Create(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults("ecs-node");
        builder.UseDefaultUrl(8083);
        var token = builder.Configuration[$"{EcsNodeServiceOptions.Section}:Token"];
        // A node runs whatever it is sent: never reachable off this machine without a token.
        Security.RequireTokenOffLoopback(builder.Configuration, token, "The ECS node");
        builder.AddEcsNode();

        var app = builder.Build();
        app.UseBrowserProtection(app.Configuration, credentialRequired: !string.IsNullOrEmpty(token));
        // Before Swagger UI and the document, so that they too need the token when there is one.
        app.UseServiceToken(token);
        app.MapServiceDefaults("Drover ECS node");
        app.MapMetrics("/processor/metrics");
        app.MapJobsApi();
        app.MapInfoApi();
        return app;
    }

    private static void AddEcsNode(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddDroverAws();
        services.AddOptions<EcsNodeServiceOptions>().BindConfiguration(EcsNodeServiceOptions.Section).ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<EcsNodeServiceOptions>, EcsNodeServiceOptionsSetup>();
        services.AddSingleton<IValidateOptions<EcsNodeServiceOptions>, EcsNodeServiceOptionsValidator>();
        services.AddOptions<KestrelServerOptions>().Configure<IConfiguration>((kestrel, configuration) =>
        {
            var limit = configuration.GetValue<long?>($"{EcsNodeServiceOptions.Section}:{nameof(EcsNodeServiceOptions.MaxRequestBodySize)}");
            kestrel.Limits.MaxRequestBodySize = limit is > 0 ? limit : new EcsNodeServiceOptions().MaxRequestBodySize;
        });
        services.AddSingleton<EcsJobs>();
        services.AddSingleton<NodeInfoSource>();
        services.AddSingleton<SchedulerLink>();
        services.AddHttpClient(SchedulerLink.HttpClientName, SchedulerLink.Configure).RemoveAllLoggers().AddSchedulerFailoverResilience();
        services.AddHostedService<HeartbeatService>();
        services.AddHostedService<TaskWatcher>();
    }
}
