using System.Globalization;
using System.Text.Json;

namespace Drover.Dashboard.Tests;

/// <summary>
/// A real system and a real browser: the <see cref="Trio"/> (a Processor, a scheduler and a gateway with a key per
/// role), a second gateway in front of the same scheduler without keys (as <c>drover dev</c> runs it), and Debian's
/// Chromium driven by Playwright, never a browser Playwright would download.
/// </summary>
public sealed class DashboardSystem : IAsyncLifetime
{
    public const string Chromium = "/usr/bin/chromium";

    private IPlaywright? _playwright;

    public Trio Trio { get; } = new();
    public Uri OpenGatewayUrl { get; private set; } = null!;
    public IBrowserContext Browser { get; private set; } = null!;
    public string UserDataDirectory { get; } = Path.Combine(Path.GetTempPath(), "drover-dashboard-tests", Guid.NewGuid().ToString("N"));
    public static string Screenshots { get; } = Directory.CreateDirectory(Path.Combine(AppContext.BaseDirectory, "screenshots")).FullName;

    public async Task InitializeAsync()
    {
        await Trio.InitializeAsync();
        OpenGatewayUrl = await Trio.StartAsync(Drover.Gateway.GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", Trio.SchedulerUrl.ToString(),
            "--Gateway:ProcessorUrl", Trio.ProcessorUrl.ToString(),
            "--Gateway:SchedulerToken", Trio.SchedulerToken,
            "--Gateway:ProcessorToken", Trio.ProcessorToken,
            "--Gateway:JobTokenKey", Trio.JobTokenKey]));

        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: scripts/test installs Debian's chromium package");
        _playwright = await Playwright.CreateAsync();
        Directory.CreateDirectory(UserDataDirectory);
        Browser = await _playwright.Chromium.LaunchPersistentContextAsync(UserDataDirectory, new BrowserTypeLaunchPersistentContextOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
            ViewportSize = new ViewportSize { Width = 1400, Height = 900 },
        });
        Browser.SetDefaultTimeout(30_000);
        Assertions.SetDefaultExpectTimeout(30_000);
    }

    /// <summary>A new tab: a fresh sessionStorage, so no key carries over from another test.</summary>
    public async Task<IPage> NewPageAsync()
    {
        var page = await Browser.NewPageAsync();
        return page;
    }

    /// <summary>Opens the keyed gateway's sign-in and signs in with the key.</summary>
    public async Task<IPage> SignedInAsync(string key, string path = "/")
    {
        var page = await NewPageAsync();
        await page.GotoAsync(new Uri(Trio.GatewayUrl, "/signin?next=" + Uri.EscapeDataString(path)).ToString());
        await page.FillAsync("#key", key);
        await page.ClickAsync("#signin");
        await DashboardSystem.WaitForUrlAsync(page, url => url.PathAndQuery == path);
        return page;
    }

    /// <summary>Waits until the page's address is the one wanted (the dashboard moves between its pages with the history API).</summary>
    public static async Task WaitForUrlAsync(IPage page, Func<Uri, bool> wanted, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!wanted(new Uri(page.Url)))
        {
            if (DateTime.UtcNow > deadline)
            {
                var text = await page.Locator("main").InnerTextAsync();
                throw new TimeoutException($"the page is still at {page.Url} after {seconds} s, showing: {text}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Polls a script expression until it is true (the page's policy forbids the eval that Playwright's own wait uses).</summary>
    public static async Task WaitForTrueAsync(IPage page, string expression, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!await page.EvaluateAsync<bool>(expression))
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"'{expression}' is still false after {seconds} s");
            await Task.Delay(100);
        }
    }

    public static async Task ScreenshotAsync(IPage page, string name, ITestOutputHelper output)
    {
        var path = Path.Combine(Screenshots, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path });
        output.WriteLine($"screenshot: {path}");
    }

    public HttpClient Client(string? key = Trio.AdminKey) => Trio.Client(key);

    public static async Task<JsonElement> GetJsonAsync(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, $"{path}: {(int)response.StatusCode} {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }

    public static string Id(long id) => id.ToString(CultureInfo.InvariantCulture);

    public async Task DisposeAsync()
    {
        if (Browser is not null)
            await Browser.CloseAsync();
        _playwright?.Dispose();
        await Trio.DisposeAsync();
        try
        {
            Directory.Delete(UserDataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // The browser may still be writing its profile as it exits; the temp folder is cleaned later.
        }
    }
}

[CollectionDefinition(Name)]
public sealed class DashboardGroup : ICollectionFixture<DashboardSystem>
{
    public const string Name = "dashboard";
}
