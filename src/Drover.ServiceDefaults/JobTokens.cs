using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Drover.ServiceDefaults;

/// <summary>What a valid job token says: the job, the attempt it was issued to, and the root of the job's DAG.</summary>
public sealed record JobTokenClaims(long JobId, int Attempt, long Root);

/// <summary>
/// The job token (<c>DROVER_TOKEN</c>) an attempt gets: <c>drj.&lt;job&gt;.&lt;attempt&gt;.&lt;root&gt;.&lt;HMAC-SHA256&gt;</c> under a key
/// that the scheduler (which issues it) and the gateway (which checks it) share. It lets a job submit and read jobs,
/// nothing else, and it tells the scheduler which job is calling, so a job it submits records that job as its parent.
/// The signature only says who issued it: the scheduler also checks that the attempt still runs (or stopped within a
/// short grace), so a token read from an old job's log is worth nothing. The root lets the gateway count every job of
/// one DAG against one rate limit.
/// </summary>
public static class JobTokens
{
    private const string Prefix = "drj.";

    public static string Issue(long jobId, int attempt, long root, string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var body = string.Create(CultureInfo.InvariantCulture, $"{jobId}.{attempt}.{root}");
        return Prefix + body + "." + Sign(body, key);
    }

    /// <summary>What the token says, or null when it is not a job token or not signed with this key.</summary>
    public static JobTokenClaims? Verify(string? token, string? key)
    {
        if (string.IsNullOrEmpty(key) || token is null || !token.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        var parts = token.Split('.');
        if (parts.Length != 5
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var jobId)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var attempt)
            || !long.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out var root))
            return null;
        var expected = Encoding.ASCII.GetBytes(Sign(string.Join('.', parts[1..4]), key));
        return CryptographicOperations.FixedTimeEquals(expected, Encoding.ASCII.GetBytes(parts[4]))
            ? new JobTokenClaims(jobId, attempt, root)
            : null;
    }

    public static bool LooksLikeJobToken(string? token) => token?.StartsWith(Prefix, StringComparison.Ordinal) == true;

    private static string Sign(string body, string key) =>
        Base64Url(HMACSHA256.HashData(Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes("drover-job:" + body)));

    private static string Base64Url(byte[] bytes) =>
        Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
