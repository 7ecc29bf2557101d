using System.Net;

namespace Drover.Dashboard.Tests;

/// <summary>The gateway serves the dashboard on its own paths and leaves every route it had as it was.</summary>
[Collection(DashboardGroup.Name)]
public sealed class ServingTests(DashboardSystem system)
{
    private static readonly string[] AssetTypes = ["text/javascript", "text/css"];

    [Theory]
    [InlineData("/")]
    [InlineData("/jobs")]
    [InlineData("/jobs/12")]
    [InlineData("/dags/12")]
    [InlineData("/nodes")]
    [InlineData("/queue")]
    [InlineData("/submit")]
    [InlineData("/signin")]
    public async Task Each_page_is_the_dashboard_without_a_key_and_locked_to_this_origin(string path)
    {
        using var client = system.Client(key: null);
        using var response = await client.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("script-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("connect-src 'self'", csp, StringComparison.Ordinal);
        Assert.Contains("frame-ancestors 'none'", csp, StringComparison.Ordinal);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<title>Drover</title>", html, StringComparison.Ordinal);
        // Every script and style the page names is served by this gateway, with its content type; nothing from elsewhere.
        var assets = System.Text.RegularExpressions.Regex.Matches(html, "<(?:script|link rel=\"stylesheet\")[^>]* (?:src|href)=\"([^\"]+)\"")
            .Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(assets);
        foreach (var asset in assets)
        {
            Assert.StartsWith("/assets/", asset, StringComparison.Ordinal);
            using var served = await client.GetAsync(asset);
            Assert.Equal(HttpStatusCode.OK, served.StatusCode);
            Assert.Contains(served.Content.Headers.ContentType!.MediaType!, AssetTypes);
            Assert.Contains("immutable", served.Headers.CacheControl?.ToString() ?? "", StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task The_gateways_own_routes_keep_their_answers()
    {
        using var anonymous = system.Client(key: null);
        using var jobs = await anonymous.GetAsync("/scheduler/jobs");
        await Problems.AssertProblemAsync(jobs, HttpStatusCode.Unauthorized);
        using var node = await anonymous.GetAsync("/nodes/node1/processor/info");
        await Problems.AssertProblemAsync(node, HttpStatusCode.Unauthorized);
        using var health = await anonymous.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var swagger = await anonymous.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, swagger.StatusCode);
        Assert.DoesNotContain("<title>Drover</title>", await swagger.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var reader = system.Client(Trio.ReadKey);
        using var listed = await reader.GetAsync("/scheduler/jobs");
        Assert.Equal("application/json", listed.Content.Headers.ContentType?.MediaType);
        using var missing = await reader.GetAsync("/assets/nothing-here.js");
        await Problems.AssertProblemAsync(missing, HttpStatusCode.NotFound);
        using var unknownPage = await reader.GetAsync("/jobs/not-a-number");
        Assert.Equal(HttpStatusCode.NotFound, unknownPage.StatusCode);
    }

    [Fact]
    public async Task The_session_names_the_caller_and_its_role()
    {
        using var reader = system.Client(Trio.ReadKey);
        var session = await DashboardSystem.GetJsonAsync(reader, "/dashboard/session");
        Assert.Equal("reader", session.GetProperty("name").GetString());
        Assert.Equal("read", session.GetProperty("role").GetString());
        Assert.False(session.GetProperty("open").GetBoolean());

        using var wrong = system.Client("not-a-key");
        using var refused = await wrong.GetAsync("/dashboard/session");
        await Problems.AssertProblemAsync(refused, HttpStatusCode.Unauthorized);

        using var open = system.Trio.Client(null, system.OpenGatewayUrl);
        var anyone = await DashboardSystem.GetJsonAsync(open, "/dashboard/session");
        Assert.True(anyone.GetProperty("open").GetBoolean());
        Assert.Equal("admin", anyone.GetProperty("role").GetString());
    }
}
