using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Drover.ServiceDefaults;

/// <summary>
/// The job token (<c>DROVER_TOKEN</c>) a running job gets: <c>drj.&lt;job id&gt;.&lt;HMAC-SHA256&gt;</c> under a key that the
/// scheduler (which issues it) and the gateway (which checks it) share. It lets a job submit and read jobs, nothing
/// else, and it tells the scheduler which job is calling, so a job it submits records that job as its parent.
/// The gateway passes a job token through unchanged; the scheduler verifies it again itself.
/// </summary>
public static class JobTokens
{
    private const string Prefix = "drj.";

    public static string Issue(long jobId, string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var id = jobId.ToString(CultureInfo.InvariantCulture);
        return Prefix + id + "." + Sign(id, key);
    }

    /// <summary>The job id a token was issued for, or null when it is not a job token or not signed with this key.</summary>
    public static long? Verify(string? token, string? key)
    {
        if (string.IsNullOrEmpty(key) || token is null || !token.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        var parts = token.Split('.');
        if (parts.Length != 3 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var jobId))
            return null;
        var expected = Encoding.ASCII.GetBytes(Sign(parts[1], key));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[2])) ? jobId : null;
    }

    public static bool LooksLikeJobToken(string? token) => token?.StartsWith(Prefix, StringComparison.Ordinal) == true;

    private static string Sign(string jobId, string key) =>
        Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes("drover-job:" + jobId)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
