using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Amazon.Runtime.Signing;

namespace Drover.Aws.Http;

/// <summary>
/// AWS's JSON 1.1 protocol, the one ECS and CloudWatch Logs speak: <c>POST /</c>, the operation in
/// <c>X-Amz-Target</c>, errors as <c>{"__type": "...#Name", "message": "..."}</c>. Signing and retries are the
/// HTTP client's handlers (see <see cref="AwsHttp"/>); this class only frames one call.
/// </summary>
public sealed class AwsJsonProtocol(HttpClient http, Uri endpoint, string region, string signingService, string targetPrefix)
{
    private static readonly MediaTypeHeaderValue AmzJson = new("application/x-amz-json-1.1");

    public Uri Endpoint => endpoint;

    public async Task<TResponse> CallAsync<TRequest, TResponse>(
        string operation, TRequest request, JsonTypeInfo<TRequest> requestType, JsonTypeInfo<TResponse> responseType,
        CancellationToken cancellationToken)
    {
        using var message = new HttpRequestMessage(HttpMethod.Post, endpoint);
        message.Headers.TryAddWithoutValidation("X-Amz-Target", $"{targetPrefix}.{operation}");
        message.Content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(request, requestType));
        message.Content.Headers.ContentType = AmzJson;
        // One client signs for several services and regions: say which on each request.
        message.Options.Set(new HttpRequestOptionsKey<string>(SigV4SigningHandler.ServiceOptionKey), signingService);
        message.Options.Set(new HttpRequestOptionsKey<string>(SigV4SigningHandler.RegionOptionKey), region);

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(message, HttpCompletionOption.ResponseContentRead, cancellationToken);
        }
        catch (Polly.Timeout.TimeoutRejectedException e)
        {
            throw new AwsServiceException("RequestTimeout", $"{operation}: no answer in time ({e.Timeout})", HttpStatusCode.RequestTimeout);
        }
        using var _ = response;
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken);
        if (!response.IsSuccessStatusCode)
            throw ReadError(response, body);
        try
        {
            return JsonSerializer.Deserialize(body, responseType)
                ?? throw new AwsServiceException("InvalidResponse", $"{operation} answered null", response.StatusCode);
        }
        catch (JsonException e)
        {
            throw new AwsServiceException("InvalidResponse", $"{operation} answered JSON that could not be read: {e.Message}", response.StatusCode);
        }
    }

    /// <summary>Reads <c>__type</c> (the part after <c>#</c>, and before any <c>:</c>) and <c>message</c> or <c>Message</c>.</summary>
    public static AwsServiceException ReadError(HttpResponseMessage response, ReadOnlySpan<byte> body)
    {
        ArgumentNullException.ThrowIfNull(response);
        var (type, message) = ParseError(body);
        if (type is null && response.Headers.TryGetValues("x-amzn-ErrorType", out var values))
            type = CleanType(values.FirstOrDefault());
        type ??= response.StatusCode >= HttpStatusCode.InternalServerError ? "ServiceUnavailable" : "UnknownError";
        message ??= $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}";
        return new AwsServiceException(type, message, response.StatusCode);
    }

    internal static (string? Type, string? Message) ParseError(ReadOnlySpan<byte> body)
    {
        if (body.IsEmpty)
            return (null, null);
        try
        {
            var reader = new Utf8JsonReader(body);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
                return (null, null);
            string? type = null, message = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                reader.Read();
                if (reader.TokenType == JsonTokenType.String && name is "__type")
                    type = CleanType(reader.GetString());
                else if (reader.TokenType == JsonTokenType.String && name is "message" or "Message")
                    message = reader.GetString();
                else
                    reader.Skip();
            }
            return (type, message);
        }
        catch (JsonException)
        {
            return (null, null);
        }
    }

    private static string? CleanType(string? raw)
    {
        if (string.IsNullOrEmpty(raw))
            return null;
        var hash = raw.LastIndexOf('#');
        var type = hash >= 0 ? raw[(hash + 1)..] : raw;
        var colon = type.IndexOf(':', StringComparison.Ordinal);
        return colon >= 0 ? type[..colon] : type;
    }
}
