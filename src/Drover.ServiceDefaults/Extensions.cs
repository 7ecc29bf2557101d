using Drover.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Serilog;
using Serilog.Events;

namespace Drover.ServiceDefaults;

/// <summary>What every Drover service shares: logging, JSON, problem details, OpenAPI and Swagger UI, health.</summary>
public static class Extensions
{
    public static WebApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        ArgumentNullException.ThrowIfNull(builder);
        // First, so that everything below and every service reads a token given by file as if it had been given inline.
        builder.Configuration.AddSecretFiles();

        // One line an event, structured; the service name tells apart the services of `drover dev`, which share a console.
        // The defaults come first so that configuration (e.g. --Serilog:MinimumLevel:Default=Warning) overrides them.
        builder.Services.AddSerilog((services, logger) => logger
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("System.Net.Http.HttpClient", LogEventLevel.Warning)
            .MinimumLevel.Override("Microsoft.Extensions.Http", LogEventLevel.Warning)
            .MinimumLevel.Override("Polly", LogEventLevel.Warning)
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.WithProperty("service", serviceName)
            .Enrich.FromLogContext()
            .WriteTo.DroverConsole(builder.Configuration),
            // Each service keeps its own logger: `drover dev` hosts three in one process, and the static one would be shared.
            preserveStaticLogger: true);

        builder.Services.Configure<JsonOptions>(o => DroverJson.Configure(o.SerializerOptions));
        builder.Services.AddProblemDetails();
        builder.Services.AddOpenApi(o => o.AddOperationTransformer(RequestExamples.AddToOperationAsync));
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.AddHealthChecks();
        builder.AddTelemetry(serviceName);
        return builder;
    }

    /// <summary>Maps the OpenAPI document at <c>/openapi/v1.json</c>, Swagger UI at <c>/swagger</c> and liveness at <c>/healthz</c>.</summary>
    public static WebApplication MapServiceDefaults(this WebApplication app, string title) =>
        app.MapServiceDefaults(title, [("/openapi/v1.json", title)]);

    /// <summary>
    /// As <see cref="MapServiceDefaults(WebApplication, string)"/>, with Swagger UI listing the given documents (in that
    /// order, the first shown first): the gateway lists the other services' documents next to its own.
    /// </summary>
    public static WebApplication MapServiceDefaults(this WebApplication app, string title, IReadOnlyList<(string Url, string Name)> documents)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(documents);
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapOpenApi();
        app.UseSwaggerUI(o =>
        {
            foreach (var (url, name) in documents)
                o.SwaggerEndpoint(url, name);
            o.DocumentTitle = title;
        });
        app.MapHealthChecks("/healthz");
        return app;
    }

    /// <summary>
    /// Secure by default: a service listens on 127.0.0.1 at its own port unless <c>--urls</c> or
    /// <c>ASPNETCORE_URLS</c> says otherwise.
    /// </summary>
    public static WebApplicationBuilder UseDefaultUrl(this WebApplicationBuilder builder, int port)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (string.IsNullOrEmpty(builder.Configuration["urls"]))
            builder.WebHost.UseSetting("urls", $"http://127.0.0.1:{port}");
        return builder;
    }

    /// <summary>A problem+json 400 naming the field, for JSON that could not be read.</summary>
    public static IResult BadJson(System.Text.Json.JsonException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var field = string.IsNullOrEmpty(error.Path) ? "body" : error.Path.TrimStart('$', '.');
        return TypedResults.ValidationProblem(
            new Dictionary<string, string[]> { [field.Length == 0 ? "body" : field] = [CleanMessage(error.Message)] },
            title: "The request body is not a valid job");
    }

    private static string CleanMessage(string message)
    {
        // System.Text.Json appends "Path: $.x | LineNumber: 0 | BytePositionInLine: 5." which the field already says.
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
