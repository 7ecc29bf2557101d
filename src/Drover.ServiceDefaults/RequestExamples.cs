using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace Drover.ServiceDefaults;

/// <summary>
/// An example request body for one content type of an endpoint, shown in the OpenAPI document (and so in Swagger UI,
/// ready to send). <see cref="Schema"/> describes the body where the endpoint declares none (no <c>.Accepts()</c>).
/// </summary>
public sealed record RequestExample(string ContentType, string Json, Type? Schema = null);

public static class RequestExamples
{
    /// <summary>Attaches an example body, given as JSON text, for <paramref name="contentType"/>.</summary>
    public static TBuilder WithRequestExample<TBuilder>(this TBuilder builder, string contentType, string json, Type? schema = null)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        // Parsed now so that a mistyped example fails at start, not when someone opens the document.
        _ = JsonNode.Parse(json);
        return builder.WithMetadata(new RequestExample(contentType, json, schema));
    }

    /// <summary>The operation transformer that puts each endpoint's <see cref="RequestExample"/>s into its request body.</summary>
    public static async Task AddToOperationAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(context);
        foreach (var example in context.Description.ActionDescriptor.EndpointMetadata.OfType<RequestExample>())
        {
            var body = operation.RequestBody as OpenApiRequestBody ?? new OpenApiRequestBody { Required = true };
            operation.RequestBody = body;
            body.Content ??= new Dictionary<string, OpenApiMediaType>();
            if (!body.Content.TryGetValue(example.ContentType, out var media))
            {
                media = new OpenApiMediaType();
                if (example.Schema is not null)
                    media.Schema = await context.GetOrCreateSchemaAsync(example.Schema, null, cancellationToken);
                body.Content[example.ContentType] = media;
            }
            // A fresh node each time: a node belongs to one tree, and each document build makes a new tree.
            media.Example = JsonNode.Parse(example.Json);
        }
    }
}
