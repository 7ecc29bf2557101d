using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Playwright;

namespace Drover.Gateway.Tests.Browser;

/// <summary>
/// A real browser: a page of another origin (a small app on another port) posts a form and a no-cors fetch to the
/// open gateway and to an open Processor, and nothing runs; Swagger UI on the gateway itself still submits a job.
/// </summary>
[Collection(OpenTrioGroup.Name)]
public sealed class BrowserTests(OpenTrio trio)
{
    [Fact]
    public async Task A_page_of_another_origin_runs_nothing_and_Swagger_UI_still_submits()
    {
        var before = await trio.JobsAsync();
        var markers = Enumerable.Range(0, 4).Select(i => trio.Marker($"browser{i}")).ToArray();
        var gateway = trio.GatewayUrl.GetLeftPart(UriPartial.Authority);
        var processor = trio.OpenProcessorUrl.GetLeftPart(UriPartial.Authority);
        await using var evil = EvilSite(gateway, processor, markers);
        await evil.StartAsync();
        var page0 = new Uri(evil.Urls.First());

        await using var chromium = await Chromium.LaunchAsync();
        var page = await chromium.Context.NewPageAsync();
        await page.GotoAsync(page0.ToString());

        // The seed's form, as any page can post it: no preflight, and the answer is not the page's to read.
        foreach (var (form, target) in new[] { ("to-gateway", gateway + "/scheduler/jobs/new"), ("to-processor", processor + "/processor/jobs/new") })
        {
            var response = await page.RunAndWaitForResponseAsync(
                () => page.EvaluateAsync($"document.getElementById('{form}').submit()"), r => r.Url == target);
            Assert.True(response.Status == 403, $"{form}: {response.Status}");
        }
        // fetch(..., {mode: 'no-cors'}) with a JSON body: the browser sends it as text/plain.
        foreach (var (index, target) in new[] { (2, gateway + "/processor/jobs/new"), (3, processor + "/processor/jobs/new") })
        {
            var response = await page.RunAndWaitForResponseAsync(
                () => page.EvaluateAsync($"noCors({JsonSerializer.Serialize(target)}, {index})"), r => r.Url == target);
            Assert.True(response.Status == 403, $"{target}: {response.Status}");
            Assert.StartsWith("text/plain", await response.Request.HeaderValueAsync("content-type"), StringComparison.Ordinal);
        }

        // Swagger UI of the gateway: "Try it out" on POST /scheduler/jobs/new with the example it fills in.
        var swagger = await chromium.Context.NewPageAsync();
        await swagger.GotoAsync(gateway + "/swagger/index.html");
        var operation = swagger.Locator(".opblock-post").Filter(new() { HasText = "/scheduler/jobs/new" }).First;
        await operation.Locator(".opblock-summary").ClickAsync();
        await operation.GetByRole(AriaRole.Button, new() { Name = "Try it out" }).ClickAsync();
        var submitted = await swagger.RunAndWaitForResponseAsync(
            () => operation.GetByRole(AriaRole.Button, new() { Name = "Execute" }).ClickAsync(),
            r => r.Url == gateway + "/scheduler/jobs/new" && r.Request.Method == "POST");
        Assert.True(submitted.Status == 202, $"Swagger UI's submission: {submitted.Status} {await submitted.TextAsync()}");
        var job = JsonDocument.Parse(await submitted.TextAsync()).RootElement.GetProperty("job_id").GetInt64();

        // The one new job is Swagger UI's; once it has stopped, nothing of the other page's ran either.
        using var client = trio.Client();
        await Trio.WaitForStateAsync(client, job, "stopped");
        var after = await trio.JobsAsync();
        Assert.Equal([.. before.Scheduled, job], after.Scheduled);
        foreach (var marker in markers)
            Assert.False(File.Exists(marker), $"{marker} exists: a request of the other page ran");
    }

    /// <summary>The attacker's page: another origin (another port), with forms and a no-cors fetch aimed at the services.</summary>
    private static WebApplication EvilSite(string gateway, string processor, string[] markers)
    {
        var builder = WebApplication.CreateSlimBuilder(["--urls", "http://127.0.0.1:0"]);
        var app = builder.Build();
        string Job(int i) => JsonSerializer.Serialize(new { commands = new[] { new { exec = new[] { "touch", markers[i] } } } });
        var html = $$"""
            <!doctype html>
            <html><body>
            <iframe name="sink0"></iframe><iframe name="sink1"></iframe>
            <form id="to-gateway" method="POST" action="{{gateway}}/scheduler/jobs/new" target="sink0">
              <input name="command" value="touch {{markers[0]}}">
            </form>
            <form id="to-processor" method="POST" action="{{processor}}/processor/jobs/new" target="sink1" enctype="text/plain">
              <input name='{"commands": [{"exec": ["touch", "{{markers[1]}}"]}], "x": "' value='"}'>
            </form>
            <script>
              const jobs = {2: {{Job(2)}}, 3: {{Job(3)}}};
              function noCors(url, i) { return fetch(url, {method: 'POST', mode: 'no-cors', body: JSON.stringify(jobs[i])}).then(() => 'sent'); }
            </script>
            </body></html>
            """;
        app.MapGet("/", () => Results.Content(html, "text/html; charset=utf-8"));
        return app;
    }
}
