using System.Globalization;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Drover.Gateway.Auth;

/// <summary>The configured keys, hashed once at start; also answers whether the gateway is open.</summary>
internal sealed class ApiKeyRing
{
    private readonly Entry[] _entries;

    public ApiKeyRing(IOptions<GatewayOptions> options)
    {
        var gateway = options.Value;
        JobTokenKey = gateway.JobTokenKey;
        Defaults = gateway.RateLimit;
        _entries = gateway.Keys.Select(k =>
        {
            var role = GatewayRoles.TryParseKeyRole(k.Role, out var parsed) ? parsed : throw new OptionsValidationException(
                GatewayOptions.Section, typeof(GatewayOptions), [$"key '{k.Name}' has no valid role"]);
            var hash = k.Sha256 is { Length: > 0 } hex ? Convert.FromHexString(hex) : Hash(k.Key!);
            return new Entry(k.Name, role, hash, k.PermitsPerSecond ?? Defaults.PermitsPerSecond, k.Burst ?? Defaults.Burst);
        }).ToArray();
    }

    public string? JobTokenKey { get; }
    public RateLimitOptions Defaults { get; }
    public bool IsOpen => _entries.Length == 0;

    public Entry? Find(string key)
    {
        var given = Hash(key);
        Entry? found = null;
        // Every entry is compared, in constant time, so timing tells nothing about which key came close.
        foreach (var entry in _entries)
        {
            if (CryptographicOperations.FixedTimeEquals(given, entry.Sha256))
                found = entry;
        }
        return found;
    }

    public (int PermitsPerSecond, int Burst) LimitsFor(string keyName) =>
        _entries.FirstOrDefault(e => e.Name == keyName) is { } e ? (e.PermitsPerSecond, e.Burst) : (Defaults.PermitsPerSecond, Defaults.Burst);

    private static byte[] Hash(string key) => SHA256.HashData(Encoding.UTF8.GetBytes(key));

    internal sealed record Entry(string Name, string Role, byte[] Sha256, int PermitsPerSecond, int Burst);
}

/// <summary>
/// <c>Authorization: Bearer &lt;key&gt;</c> to a role: an API key gets its configured role, a job token (<c>drj.…</c>)
/// signed with the shared key gets <see cref="GatewayRoles.Job"/>. An open gateway makes every caller admin, but
/// still recognises job tokens so the scheduler learns which job calls.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiKeyRing keys)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "DroverKey";

    /// <summary>Set on callers whose own token goes upstream unchanged (job tokens), instead of the service token.</summary>
    public const string ForwardOwnTokenClaim = "drover:forward_token";

    /// <summary>The root of the calling job's DAG: every job of one DAG shares one rate limit.</summary>
    public const string DagRootClaim = "drover:dag_root";

    private const string Anonymous = "anonymous";

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        var token = header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header["Bearer ".Length..].Trim() : null;

        if (JobTokens.LooksLikeJobToken(token))
        {
            // Only the signature is checked here; the scheduler refuses the token once its attempt has stopped.
            if (JobTokens.Verify(token, keys.JobTokenKey) is { } job)
                return Task.FromResult(Success(string.Create(CultureInfo.InvariantCulture, $"job:{job.JobId}"), GatewayRoles.Job,
                    new Claim(ForwardOwnTokenClaim, "true"), new Claim(DagRootClaim, job.Root.ToString(CultureInfo.InvariantCulture))));
            if (!keys.IsOpen)
                return Task.FromResult(AuthenticateResult.Fail("The job token is not valid: it is not signed with this installation's job token key."));
        }
        if (keys.IsOpen)
            return Task.FromResult(Success(Anonymous, GatewayRoles.Admin));
        if (string.IsNullOrEmpty(token))
            return Task.FromResult(AuthenticateResult.NoResult());
        return Task.FromResult(keys.Find(token) is { } entry
            ? Success(entry.Name, entry.Role)
            : AuthenticateResult.Fail("The API key is not known to this gateway."));
    }

    private static AuthenticateResult Success(string name, string role, params Claim[] more)
    {
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role), .. more], SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    /// <summary>
    /// The rate limit partition: the key's name, the DAG of a calling job (so that jobs which submit jobs cannot
    /// escape the limit by multiplying), or the remote address for callers without a key.
    /// </summary>
    public static string PartitionOf(HttpContext context)
    {
        if (context.User.FindFirst(DagRootClaim)?.Value is { } root)
            return "dag:" + root;
        var name = context.User.Identity?.IsAuthenticated == true ? context.User.Identity.Name : null;
        return name is null or Anonymous ? "ip:" + context.Connection.RemoteIpAddress : "key:" + name;
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var result = await HandleAuthenticateOnceSafeAsync();
        Response.Headers.WWWAuthenticate = "Bearer";
        await Results.Problem(
            statusCode: StatusCodes.Status401Unauthorized,
            title: "Unauthorized",
            detail: result.Failure?.Message ?? "This gateway needs 'Authorization: Bearer <key>' with an API key or a job token.")
            .ExecuteAsync(Context);
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        var role = GatewayRoles.RoleOf(Context.User) ?? "none";
        return Results.Problem(
            statusCode: StatusCodes.Status403Forbidden,
            title: "Forbidden",
            detail: $"The caller '{Context.User.Identity?.Name}' has role '{role}', which may not {Request.Method} {Request.Path}.")
            .ExecuteAsync(Context);
    }
}
