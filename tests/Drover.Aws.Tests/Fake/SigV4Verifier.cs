using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Drover.Aws.Tests.Fake;

/// <summary>
/// Checks a request's AWS Signature Version 4 the way AWS does, written from the specification rather than with
/// the SDK's signer: canonical request, string to sign, and the HMAC chain from the secret key.
/// </summary>
internal sealed class SigV4Verifier(string accessKeyId, string secretAccessKey, string region, TimeProvider time)
{
    private static readonly TimeSpan AllowedSkew = TimeSpan.FromMinutes(15);

    /// <summary>Null when the signature is right; otherwise why not.</summary>
    public string? Verify(HttpRequest request, byte[] body, string expectedService)
    {
        var authorization = request.Headers.Authorization.ToString();
        const string Algorithm = "AWS4-HMAC-SHA256";
        if (!authorization.StartsWith(Algorithm + " ", StringComparison.Ordinal))
            return "missing or non-SigV4 Authorization header";
        var parts = authorization[(Algorithm.Length + 1)..].Split(',', StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0], p => p[1], StringComparer.Ordinal);
        if (!parts.TryGetValue("Credential", out var credential) || !parts.TryGetValue("SignedHeaders", out var signedHeaders)
            || !parts.TryGetValue("Signature", out var signature))
            return "Authorization lacks Credential, SignedHeaders or Signature";

        var scope = credential.Split('/');
        if (scope.Length != 5 || scope[4] != "aws4_request")
            return $"malformed credential scope {credential}";
        if (scope[0] != accessKeyId)
            return $"unknown access key {scope[0]}";
        if (scope[2] != region)
            return $"signed for region {scope[2]}, expected {region}";
        if (scope[3] != expectedService)
            return $"signed for service {scope[3]}, expected {expectedService}";

        var amzDate = request.Headers["X-Amz-Date"].ToString();
        if (!DateTimeOffset.TryParseExact(amzDate, "yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture,
                DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var signedAt))
            return "missing or malformed X-Amz-Date";
        if (!amzDate.StartsWith(scope[1], StringComparison.Ordinal))
            return "X-Amz-Date and the credential scope name different days";
        if ((time.GetUtcNow() - signedAt).Duration() > AllowedSkew)
            return $"signed at {signedAt:O}, too far from now";

        var headerNames = signedHeaders.Split(';');
        if (!headerNames.Contains("host") || !headerNames.Contains("x-amz-date"))
            return "host and x-amz-date must be signed";
        if (!headerNames.SequenceEqual(headerNames.Order(StringComparer.Ordinal)) || headerNames.Any(h => h.Any(char.IsAsciiLetterUpper)))
            return "SignedHeaders must be lowercase and sorted";

        var payloadHash = Hex(SHA256.HashData(body));
        var claimedHash = request.Headers["X-Amz-Content-Sha256"].ToString();
        if (claimedHash.Length > 0 && claimedHash != payloadHash)
            return "X-Amz-Content-Sha256 does not match the body";

        var canonical = new StringBuilder()
            .Append(request.Method).Append('\n')
            .Append(CanonicalPath(request.Path.Value)).Append('\n')
            .Append(CanonicalQuery(request.Query)).Append('\n');
        foreach (var name in headerNames)
        {
            if (!request.Headers.TryGetValue(name, out var values))
                return $"signed header {name} is not in the request";
            var value = string.Join(",", values.Select(v => CollapseSpaces(v ?? "")));
            canonical.Append(name).Append(':').Append(value).Append('\n');
        }
        canonical.Append('\n').Append(signedHeaders).Append('\n').Append(payloadHash);

        var stringToSign = $"{Algorithm}\n{amzDate}\n{string.Join('/', scope[1..])}\n{Hex(SHA256.HashData(Encoding.UTF8.GetBytes(canonical.ToString())))}";
        var key = Hmac(Encoding.UTF8.GetBytes("AWS4" + secretAccessKey), scope[1]);
        key = Hmac(key, scope[2]);
        key = Hmac(key, scope[3]);
        key = Hmac(key, "aws4_request");
        var expected = Hex(Hmac(key, stringToSign));
        return CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(signature))
            ? null
            : "The request signature we calculated does not match the signature you provided.";
    }

    private static string CanonicalPath(string? path)
    {
        if (string.IsNullOrEmpty(path))
            return "/";
        return string.Join('/', path.Split('/').Select(s => Encode(Uri.UnescapeDataString(s))));
    }

    private static string CanonicalQuery(IQueryCollection query) =>
        string.Join('&', query
            .SelectMany(p => p.Value.Select(v => (Key: Encode(p.Key), Value: Encode(v ?? ""))))
            .OrderBy(p => p.Key, StringComparer.Ordinal).ThenBy(p => p.Value, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={p.Value}"));

    /// <summary>RFC 3986: everything but unreserved characters percent-encoded, in upper-case hex.</summary>
    private static string Encode(string text)
    {
        var builder = new StringBuilder();
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or '~')
                builder.Append(c);
            else
                builder.Append('%').Append(b.ToString("X2", CultureInfo.InvariantCulture));
        }
        return builder.ToString();
    }

    private static string CollapseSpaces(string value) => string.Join(' ', value.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries));

    private static byte[] Hmac(byte[] key, string data) => HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(data));

    private static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
}
