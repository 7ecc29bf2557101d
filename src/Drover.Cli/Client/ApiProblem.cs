using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Drover.Cli.Client;

/// <summary>A call Drover refused: the RFC 7807 problem it answered (title, detail and the fields that are wrong).</summary>
internal sealed class ApiProblem(HttpStatusCode status, string title, string? detail, IDictionary<string, string[]> errors)
    : Exception(detail is null ? title : $"{title}: {detail}")
{
    public HttpStatusCode Status { get; } = status;
    public string Title { get; } = title;
    public string? Detail { get; } = detail;
    public IDictionary<string, string[]> Errors { get; } = errors;

    /// <summary>Reads a failed answer: problem+json as the services write it, or whatever else a proxy in between said.</summary>
    public static async Task<ApiProblem> ReadAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var body = await response.Content.ReadAsStringAsync(cancellationToken);
        var status = response.StatusCode;
        if (response.Content.Headers.ContentType?.MediaType is { } type && type.EndsWith("json", StringComparison.OrdinalIgnoreCase))
        {
            try
            {
                if (JsonSerializer.Deserialize<HttpValidationProblemDetails>(body, JsonSerializerOptions.Web) is { Title: { } title } problem)
                    return new ApiProblem(status, title, problem.Detail, problem.Errors);
            }
            catch (JsonException)
            {
                // not a problem document after all: fall through to the raw body
            }
        }
        var text = body.Trim();
        return new ApiProblem(status,
            string.Create(CultureInfo.InvariantCulture, $"{(int)status} {response.ReasonPhrase}"),
            text.Length == 0 ? null : text.Length > 500 ? text[..500] + "…" : text,
            new Dictionary<string, string[]>());
    }
}
