using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using Serilog;
using Serilog.Configuration;
using Serilog.Formatting.Compact;

namespace Drover.ServiceDefaults;

/// <summary>
/// Metrics and traces, with OpenTelemetry: each service's own meter (<c>Drover.&lt;Service&gt;</c>), ASP.NET Core's and
/// HttpClient's built-in meters, all served as Prometheus text at <c>/metrics</c>. W3C trace context (<c>traceparent</c>)
/// is read from every request and sent on every call by .NET itself; spans are exported only when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, so that a system without a trace collector pays nothing for them.
/// </summary>
public static class Telemetry
{
    /// <summary>The name of a service's own meter and activity source: <c>Drover.Scheduler</c>.</summary>
    public static string SourceName(string serviceName)
    {
        ArgumentException.ThrowIfNullOrEmpty(serviceName);
        return "Drover." + char.ToUpperInvariant(serviceName[0]) + serviceName[1..];
    }

    public static WebApplicationBuilder AddTelemetry(this WebApplicationBuilder builder, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var source = SourceName(serviceName);
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithMetrics(metrics => metrics
                .AddMeter(source, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http")
                .AddPrometheusExporter());
        // Meters are process-wide by name, and `drover dev` (and a test) hosts several services in one process: each
        // service shows only the instruments its own container made, and those made without a container.
        builder.Services.ConfigureOpenTelemetryMeterProvider((services, metrics) =>
        {
            var own = services.GetRequiredService<IMeterFactory>();
            metrics.AddView(instrument => instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own)
                ? MetricStreamConfiguration.Drop
                : null);
        });
        if (!string.IsNullOrEmpty(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            telemetry.WithTracing(tracing => tracing
                .AddSource(source, "Microsoft.AspNetCore", "System.Net.Http")
                .AddOtlpExporter());
        return builder;
    }

    /// <summary>
    /// Prometheus text at <c>/metrics</c> and at each further path (<c>/scheduler/metrics</c>, which the gateway's
    /// routes reach). Who may read it is who may call the service: its token, when one is configured.
    /// </summary>
    public static RouteGroupBuilder MapMetrics(this IEndpointRouteBuilder endpoints, params string[] morePaths)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(morePaths);
        var group = endpoints.MapGroup("");
        foreach (var path in (string[])["/metrics", .. morePaths])
            group.MapPrometheusScrapingEndpoint(path);
        return group;
    }

    /// <summary>
    /// The console sink: one line an event as text, or with <c>LogFormat=json</c> one JSON object a line (Serilog's
    /// compact format, with the trace and span ids as <c>@tr</c> and <c>@sp</c>) for a log collector.
    /// </summary>
    public static LoggerConfiguration DroverConsole(this LoggerSinkConfiguration sinks, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(sinks);
        ArgumentNullException.ThrowIfNull(configuration);
        return string.Equals(configuration["LogFormat"], "json", StringComparison.OrdinalIgnoreCase)
            ? sinks.Console(new RenderedCompactJsonFormatter())
            : sinks.Console(outputTemplate: "{Timestamp:HH:mm:ss.fff} {Level:u3} [{service}] {Message:lj}{NewLine}{Exception}");
    }

    /// <summary>
    /// Starts an activity that continues a trace recorded earlier (a job's, when it is sent to a node long after it
    /// was submitted), so that the call it makes carries that trace's <c>traceparent</c>. Null without a parent.
    /// </summary>
    public static Activity? ContinueTrace(string operation, string? traceParent)
    {
        if (!ActivityContext.TryParse(traceParent, null, out var parent))
            return null;
        // A plain Activity needs no listener: .NET's HttpClient propagates the current one whether or not it is sampled.
        var activity = new Activity(operation);
        activity.SetParentId(parent.TraceId, parent.SpanId, parent.TraceFlags);
        return activity.Start();
    }

    /// <summary>The current W3C <c>traceparent</c> (the request's, as .NET read it), or null.</summary>
    public static string? CurrentTraceParent() =>
        Activity.Current is { IdFormat: ActivityIdFormat.W3C } current ? current.Id : null;
}
