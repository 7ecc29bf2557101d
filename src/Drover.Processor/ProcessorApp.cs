using Drover.Processor.Jobs;
using Drover.Processor.Metrics;
using Drover.Processor.Nodes;
using Drover.Processor.Push;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace Drover.Processor;

/// <summary>The Processor: a node that runs jobs as local processes and keeps them on disk (docs/node-protocol.md).</summary>
public static class ProcessorApp
{
    public static WebApplication Create(string[] args)
    {
        // Configuration is read once (nothing reloads it), so its files are not watched: a watch covers every directory
        // under the content root, the working directory, and wakes the service for every file written below it.
        var builder = WebApplication.CreateBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);
        builder.AddServiceDefaults("processor");
        builder.UseDefaultUrl(8082);
        var token = builder.Configuration[$"{ProcessorOptions.Section}:Token"];
        // A node runs whatever it is sent: never reachable off this machine without a token.
        Security.RequireTokenOffLoopback(builder.Configuration, token, "The Processor");
        builder.AddProcessor();

        var app = builder.Build();
        app.UseBrowserProtection(app.Configuration, credentialRequired: !string.IsNullOrEmpty(token));
        // Before Swagger UI, the document and the metrics, so that they too need the token when there is one.
        app.UseServiceToken(token);
        app.Services.GetRequiredService<ProcessorMetrics>(); // its gauges exist from the first scrape on
        app.MapServiceDefaults("Drover Processor");
        app.MapMetrics("/processor/metrics");
        app.MapJobsApi();
        app.MapInfoApi();
        return app;
    }

    private static void AddProcessor(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<ProcessorOptions>().BindConfiguration(ProcessorOptions.Section).ValidateOnStart();
        services.AddSingleton<IPostConfigureOptions<ProcessorOptions>, ProcessorOptionsSetup>();
        services.AddSingleton<IValidateOptions<ProcessorOptions>, ProcessorOptionsValidator>();
        // Read straight from configuration: the server is built before options are validated at start, and a bad
        // setting should fail there with every other one, not here alone.
        services.AddOptions<KestrelServerOptions>().Configure<IConfiguration>((kestrel, configuration) =>
        {
            var limit = configuration.GetValue<long?>($"{ProcessorOptions.Section}:{nameof(ProcessorOptions.MaxRequestBodySize)}");
            kestrel.Limits.MaxRequestBodySize = limit is > 0 ? limit : new ProcessorOptions().MaxRequestBodySize;
        });

        services.AddSingleton<JobStore>();
        services.AddSingleton<SlotGate>();
        services.AddSingleton<ProcessorMetrics>();
        services.AddSingleton<SupervisorClient>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<NodeInfoSource>();
        // Reads the state directory back before the server takes requests (hosted services start first).
        services.AddHostedService<JobRecovery>();
        services.AddHostedService<JobPruner>();

        // Push to the schedulers (feature "push"): the loops do nothing unless Processor:SchedulerUrl(s) is set.
        services.AddSingleton<JobEvents>();
        services.AddSingleton<SchedulerClient>();
        services.AddHttpClient(SchedulerClient.HttpClientName, SchedulerClient.Configure).RemoveAllLoggers().AddSchedulerFailoverResilience();
        services.AddHostedService<HeartbeatService>();
        services.AddHostedService<PushService>();
        services.AddHostedService<DisconnectWatch>();
    }
}
