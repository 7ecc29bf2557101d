using System.Text.Json.Nodes;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Microsoft.OpenApi;
using Yarp.ReverseProxy.Transforms;

namespace Drover.Gateway.Proxy;

/// <summary>
/// The services' documents as the gateway serves them: the services know nothing of API keys, so the gateway adds the
/// bearer scheme it enforces, which gives Swagger UI its "Authorize" button and lets a newcomer try calls with a key.
/// </summary>
internal static class ApiDocuments
{
    private const string SchemeDescription = "A Drover API key (read, submit or admin), or a running job's DROVER_TOKEN.";

    /// <summary>The same bearer scheme in the gateway's own document, when keys are configured.</summary>
    public static IServiceCollection AddGatewayDocument(this IServiceCollection services) =>
        services.Configure<OpenApiOptions>("v1", o => o.AddDocumentTransformer((document, context, _) =>
        {
            if (context.ApplicationServices.GetRequiredService<IOptions<GatewayOptions>>().Value.IsOpen)
                return Task.CompletedTask;
            document.Components ??= new OpenApiComponents();
            document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
            document.Components.SecuritySchemes["bearer"] = new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http,
                Scheme = "bearer",
                Description = SchemeDescription,
            };
            document.Security = [new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("bearer", document)] = [] }];
            return Task.CompletedTask;
        }));

    public static async ValueTask AddBearerSchemeAsync(ResponseTransformContext context)
    {
        if (context.ProxyResponse is not { IsSuccessStatusCode: true } upstream || HttpMethods.IsHead(context.HttpContext.Request.Method))
            return;
        // A document is a few hundred kilobytes at most, so reading it whole is fine (unlike the proxied calls).
        var document = JsonNode.Parse(await upstream.Content.ReadAsStreamAsync(context.CancellationToken)) as JsonObject;
        if (document is null)
            return;
        var components = document["components"] as JsonObject ?? new JsonObject();
        document["components"] = components;
        var schemes = components["securitySchemes"] as JsonObject ?? new JsonObject();
        components["securitySchemes"] = schemes;
        schemes["bearer"] = new JsonObject
        {
            ["type"] = "http",
            ["scheme"] = "bearer",
            ["description"] = SchemeDescription,
        };
        document["security"] = new JsonArray(new JsonObject { ["bearer"] = new JsonArray() });

        context.SuppressResponseBody = true;
        var response = context.HttpContext.Response;
        response.Headers.Remove(HeaderNames.ContentLength);
        response.Headers.Remove(HeaderNames.ContentEncoding);
        response.ContentType = "application/json; charset=utf-8";
        await response.WriteAsync(document.ToJsonString(), context.CancellationToken);
    }
}
