using Drover.Gateway.Auth;
using Drover.Gateway.Dashboard;
using Drover.Gateway.Health;
using Drover.Gateway.Limits;
using Drover.Gateway.Proxy;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration.Memory;
using Microsoft.Extensions.Options;

namespace Drover.Gateway;

/// <summary>
/// The gateway: one front door that authenticates callers, limits them, and forwards <c>/scheduler/*</c>,
/// <c>/processor/*</c> and <c>/nodes/{name}/processor/*</c> upstream with streamed bodies.
/// </summary>
public static class GatewayApp
{
    public const int DefaultPort = 8080;

    public static WebApplication Create(string[] args)
    {
        // Configuration is read once (nothing reloads it), so its files are not watched: a watch covers every directory
        // under the content root, the working directory, and wakes the service for every file written below it.
        var builder = WebApplication.CreateBuilder([.. args, "--hostBuilder:reloadConfigOnChange=false"]);
        builder.UseDefaultUrl(DefaultPort);
        // Health probes every few seconds are not news; configuration can still turn them back on.
        builder.Configuration.Sources.Insert(0, new MemoryConfigurationSource
        {
            InitialData = new Dictionary<string, string?> { ["Serilog:MinimumLevel:Override:Yarp"] = "Warning" },
        });
        builder.AddServiceDefaults("gateway");
        builder.AddGatewayOptions();
        builder.Services.AddGatewayAuth();
        builder.Services.AddCallerRateLimits();
        builder.Services.AddProxyRoutes();
        builder.Services.AddNodesProxy();
        builder.Services.AddGatewayDocument();
        builder.Services.AddHttpClient(NodeDirectory.SchedulerClient, c => c.Timeout = TimeSpan.FromSeconds(5));

        var app = builder.Build();
        var options = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value;
        // Before anything that serves a path, the Swagger UI included: a path that escapes is refused everywhere, and so
        // is a page of another site. Upstream services never see the browser's headers (see ProxyRoutes).
        app.UseBrowserProtection(app.Configuration, credentialRequired: !options.IsOpen);
        app.UseRequestGuards();
        app.MapServiceDefaults("Drover gateway", ApiDocuments(options));
        app.UseAuthentication();
        app.UseStreamLimit(options.MaxStreamsPerCaller, ApiKeyAuthenticationHandler.PartitionOf);
        app.UseRateLimiter();
        app.UseAuthorization();
        app.MapReverseProxy(proxy =>
        {
            proxy.Use(async (context, next) =>
            {
                await next(context);
                await ForwarderProblems.WriteAsync(context);
            });
            // A pipeline of our own leaves out YARP's default steps: without this one, several schedulers are picked
            // at random with a warning on every request.
            proxy.UseLoadBalancing();
        });
        app.MapNodesApi();
        app.MapReadinessApi();
        app.MapMetrics().RequireAuthorization(GatewayRoles.AccessPolicy);
        app.MapDashboard();
        app.AnnounceWhenOpen(options);
        return app;
    }

    private static void AddGatewayOptions(this WebApplicationBuilder builder)
    {
        builder.Services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IPostConfigureOptions<GatewayOptions>, GatewayOptionsSetup>();
        builder.Services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        // Without keys anyone may do anything, which is only acceptable on this machine's loopback.
        var open = !builder.Configuration.GetSection($"{GatewayOptions.Section}:Keys").GetChildren().Any();
        Security.RequireTokenOffLoopback(builder.Configuration, open ? null : "keys", "The gateway (no Gateway:Keys configured)");
        builder.Services.AddOptions<KestrelServerOptions>()
            .Configure<IOptions<GatewayOptions>>((kestrel, gateway) => kestrel.Limits.MaxRequestBodySize = gateway.Value.MaxRequestBodySize);
    }

    private static void AddGatewayAuth(this IServiceCollection services)
    {
        services.AddSingleton<ApiKeyRing>();
        // Authentication brings data protection along; nothing here is protected with it, so keep no key ring on disk.
        services.AddDataProtection().UseEphemeralDataProtectionProvider();
        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorizationBuilder()
            .AddPolicy(GatewayRoles.AccessPolicy, p => p.RequireAuthenticatedUser().AddRequirements(new RouteAccessRequirement()));
        services.AddSingleton<IAuthorizationHandler, RouteAccessRequirement>();
    }

    // The scheduler's document first: it is where a newcomer submits a job.
    private static List<(string Url, string Name)> ApiDocuments(GatewayOptions options)
    {
        var documents = new List<(string, string)> { (ProxyRoutes.SchedulerDocument, "Scheduler") };
        if (options.ProcessorUrl is not null)
            documents.Add((ProxyRoutes.ProcessorDocument, "Processor (local node)"));
        documents.Add(("/openapi/v1.json", "Gateway"));
        return documents;
    }

    private static void AnnounceWhenOpen(this WebApplication app, GatewayOptions options)
    {
        if (!options.IsOpen)
            return;
        app.Lifetime.ApplicationStarted.Register(() => app.Logger.LogWarning(
            "No API keys are configured (Gateway:Keys): the gateway is OPEN, every caller is admin; it listens on loopback only: {Urls}",
            string.Join(", ", app.Urls)));
    }
}
