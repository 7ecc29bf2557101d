using Drover.Scheduler.Access;
using Drover.Scheduler.Cluster;
using Drover.Scheduler.Dags;
using Drover.Scheduler.Events;
using Drover.Scheduler.Following;
using Drover.Scheduler.Jobs;
using Drover.Scheduler.Metrics;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Placement;
using Drover.Scheduler.Queue;
using Drover.Scheduler.Storage;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace Drover.Scheduler;

/// <summary>The Scheduler: owns the job table and the queue, places jobs on nodes and follows them.</summary>
public static class SchedulerApp
{
    public const int DefaultPort = 8081;

    public static WebApplication Create(string[] args)
    {
        // Configuration is read at start: watching the working directory for changes costs a wake-up per file written there.
        var builder = WebApplication.CreateBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);
        builder.AddServiceDefaults("scheduler");
        builder.UseDefaultUrl(DefaultPort);
        builder.AddScheduler();

        var app = builder.Build();
        var options = app.Services.GetRequiredService<IOptions<SchedulerOptions>>().Value;
        app.Services.GetRequiredService<SchedulerMetrics>(); // its gauges exist from the first scrape on
        Security.RequireTokenOffLoopback(app.Configuration, options.Token, "The scheduler");
        app.UseBrowserProtection(app.Configuration, credentialRequired: !string.IsNullOrEmpty(options.Token));
        app.UseCallerAccess(options);
        // Streams count per calling DAG (job tokens), or per address when the scheduler is open; the service token's
        // holder (the gateway) caps its own callers.
        app.UseStreamLimit(options.MaxStreamsPerCaller, context =>
            context.CallerJob() is { } job ? "dag:" + job.Root
            : string.IsNullOrEmpty(options.Token) ? "ip:" + context.Connection.RemoteIpAddress
            : null);
        app.MapServiceDefaults("Drover Scheduler");
        app.MapMetrics("/scheduler/metrics");
        app.MapJobsApi();
        app.MapQueueApi();
        app.MapNodesApi();
        app.MapDagsApi();
        app.MapEventsApi();
        return app;
    }

    private static void AddScheduler(this WebApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<SchedulerOptions>().BindConfiguration(SchedulerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<IValidateOptions<SchedulerOptions>, SchedulerOptionsValidator>();

        // Request bodies (uploads included) are bounded by one option.
        var limit = builder.Configuration.GetValue<long?>($"{SchedulerOptions.Section}:{nameof(SchedulerOptions.MaxRequestBodySize)}")
            ?? new SchedulerOptions().MaxRequestBodySize;
        builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = limit);
        services.Configure<FormOptions>(o =>
        {
            o.MultipartBodyLengthLimit = limit;
            o.ValueLengthLimit = (int)Math.Min(limit, int.MaxValue);
        });

        services.AddSingleton<EventFeed>();
        services.AddSingleton(s => SqlDialect.Create(s.GetRequiredService<IOptions<SchedulerOptions>>().Value.Database));
        services.AddSingleton<IJobStore, JobStore>();
        services.AddSingleton<ICommitObserver, CommitReactions>();
        services.AddSingleton<Leadership>();
        services.AddSingleton<PresenceService>();
        services.AddSingleton<NodeRegistry>();
        services.AddSingleton<PlacementSignal>();
        services.AddSingleton<PublicAddress>();
        services.AddSingleton<ProcessorNodeBackend>();
        services.AddSingleton<INodeBackend, NodeBackends>();
        ProcessorNodeBackend.AddClients(services);
        EcsNodeBackend.Add(services); // ECS clusters as nodes (Aws:EcsNodes)
        services.AddSingleton<NodeReports>();
        services.AddSingleton<Starter>();
        services.AddSingleton<Follower>();
        services.AddSingleton<JobControl>();
        services.AddSingleton<SchedulerMetrics>();

        // Started in this order: the store first, then the loops.
        services.AddHostedService<StoreInitializer>();
        services.AddHostedService(s => s.GetRequiredService<PresenceService>());
        services.AddHostedService<StoreListener>();
        services.AddHostedService<PlacementService>();
        services.AddHostedService<FollowService>();
        services.AddHostedService<EventPruner>();
        services.AddHostedService<NodeExpiryService>();
        Ec2NodeDiscovery.Add(services); // Processors found on EC2 (Aws:Ec2Discovery), registered and drained as instances come and go
    }
}
