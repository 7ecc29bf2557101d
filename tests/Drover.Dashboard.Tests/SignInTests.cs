namespace Drover.Dashboard.Tests;

[Collection(DashboardGroup.Name)]
public sealed class SignInTests(DashboardSystem system, ITestOutputHelper output)
{
    [Fact]
    public async Task Without_keys_the_dashboard_opens_straight_away()
    {
        var page = await system.NewPageAsync();
        await page.GotoAsync(system.OpenGatewayUrl.ToString());
        await Assertions.Expect(page.Locator("h1")).ToHaveTextAsync("Overview");
        await Assertions.Expect(page.Locator("#who")).ToContainTextAsync("open gateway");
        await Assertions.Expect(page.Locator("[data-count='nodes up'] .n")).ToHaveTextAsync("1");
        await Assertions.Expect(page.Locator("#nav-submit")).ToBeVisibleAsync();
        Assert.Equal("/", new Uri(page.Url).AbsolutePath);
        await DashboardSystem.ScreenshotAsync(page, "overview-open", output);
        await page.CloseAsync();
    }

    [Fact]
    public async Task With_keys_a_page_asks_for_one_refuses_a_wrong_one_and_opens_with_a_right_one()
    {
        var page = await system.NewPageAsync();
        await page.GotoAsync(new Uri(system.Trio.GatewayUrl, "/jobs?state=queued").ToString());
        await DashboardSystem.WaitForUrlAsync(page, url => url.AbsolutePath == "/signin");
        await page.FillAsync("#key", "not-a-key");
        await page.ClickAsync("#signin");
        await Assertions.Expect(page.Locator("form .error")).ToHaveTextAsync("This gateway does not know that key.");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('drover.key')"));

        await page.FillAsync("#key", Trio.SubmitKey);
        await page.ClickAsync("#signin");
        await DashboardSystem.WaitForUrlAsync(page, url => url.PathAndQuery == "/jobs?state=queued");
        await Assertions.Expect(page.Locator("#who-name")).ToHaveTextAsync("submitter (submit)");
        await Assertions.Expect(page.Locator("#f-state")).ToHaveValueAsync("queued");
        await DashboardSystem.ScreenshotAsync(page, "signed-in", output);

        // The key stays in this tab only: a reload keeps it, signing out forgets it.
        await page.ReloadAsync();
        await Assertions.Expect(page.Locator("#who-name")).ToHaveTextAsync("submitter (submit)");
        await page.ClickAsync("#who button");
        await DashboardSystem.WaitForUrlAsync(page, url => url.AbsolutePath == "/signin");
        Assert.Null(await page.EvaluateAsync<string?>("sessionStorage.getItem('drover.key')"));
        await page.CloseAsync();
    }
}
