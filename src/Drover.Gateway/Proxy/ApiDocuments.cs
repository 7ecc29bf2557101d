using System.Text.Json.Nodes;
using Microsoft.Net.Http.Headers;
using Yarp.ReverseProxy.Transforms;

namespace Drover.Gateway.Proxy;

/// <summary>
/// The services' documents as the gateway serves them: the services know nothing of API keys, so the gateway adds the
/// bearer scheme it enforces, which gives Swagger UI its "Authorize" button and lets a newcomer try calls with a key.
/// </summary>
internal static class ApiDocuments
{
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
            ["description"] = "A Drover API key (read, submit or admin), or a running job's DROVER_TOKEN.",
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
