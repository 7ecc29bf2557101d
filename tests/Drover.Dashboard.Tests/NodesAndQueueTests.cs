namespace Drover.Dashboard.Tests;

[Collection(DashboardGroup.Name)]
public sealed class NodesAndQueueTests(DashboardSystem system, ITestOutputHelper output)
{
    [Fact]
    public async Task An_admin_drains_and_undrains_a_node_from_its_row()
    {
        var page = await system.SignedInAsync(Trio.AdminKey, "/nodes");
        var row = page.Locator($"tr[data-node='{Trio.NodeName}']");
        await Assertions.Expect(row).ToContainTextAsync("up");
        await row.Locator("button[data-action='drain']").ClickAsync();
        await Assertions.Expect(row).ToContainTextAsync("drained");
        using var client = system.Client(Trio.AdminKey);
        var nodes = await DashboardSystem.GetJsonAsync(client, "/scheduler/nodes");
        Assert.True(nodes.GetProperty("nodes")[0].GetProperty("drained").GetBoolean());
        await DashboardSystem.ScreenshotAsync(page, "nodes-drained", output);

        await row.Locator("button[data-action='undrain']").ClickAsync();
        await Assertions.Expect(row.Locator("button[data-action='drain']")).ToBeVisibleAsync();
        nodes = await DashboardSystem.GetJsonAsync(client, "/scheduler/nodes");
        Assert.False(nodes.GetProperty("nodes")[0].GetProperty("drained").GetBoolean());
        await page.CloseAsync();
    }

    [Fact]
    public async Task The_queue_says_why_a_job_waits_and_an_admin_removes_it()
    {
        using var client = system.Client(Trio.AdminKey);
        var id = await Trio.SubmitAsync(client, """{"commands": [{"exec": ["true"]}], "constraints": {"labels": {"gpu": "h100"}}}""");
        var page = await system.SignedInAsync(Trio.AdminKey, "/queue");
        var row = page.Locator($"tr[data-job='{id}']");
        // The placement pass records why no node took it.
        await Assertions.Expect(row).ToContainTextAsync("gpu", new() { Timeout = 60_000 });
        await DashboardSystem.ScreenshotAsync(page, "queue", output);
        await row.Locator("button").ClickAsync();
        await Assertions.Expect(row).ToHaveCountAsync(0);
        var status = await Trio.WaitForStateAsync(client, id, "stopped");
        Assert.Equal("error", status.GetProperty("status").GetString());
        await page.CloseAsync();
    }
}
