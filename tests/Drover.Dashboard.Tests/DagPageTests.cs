using System.Text.Json;

namespace Drover.Dashboard.Tests;

[Collection(DashboardGroup.Name)]
public sealed class DagPageTests(DashboardSystem system, ITestOutputHelper output)
{
    [Fact]
    public async Task A_DAG_submitted_from_the_form_changes_states_on_its_page_without_a_reload()
    {
        var page = await system.SignedInAsync(Trio.SubmitKey, "/submit");
        // The form's example, made to fail on the right so that every kind of outcome shows: good, error, skipped, afternotok.
        var dag = """
            {"jobs": {
              "fetch": {"commands": [["sh", "-c", "sleep 1.5"]]},
              "left":  {"commands": [["sh", "-c", "sleep 1"]], "depends_on": ["fetch"]},
              "right": {"commands": [["false"]], "depends_on": ["fetch"], "max_attempts": 1},
              "join":  {"commands": [["true"]], "depends_on": ["left", {"job": "right", "condition": "afterany"}]},
              "alert": {"commands": [["echo", "right failed"]], "depends_on": [{"job": "right", "condition": "afternotok"}]},
              "quiet": {"commands": [["true"]], "depends_on": [{"job": "left", "condition": "afternotok"}]}}}
            """;
        await page.FillAsync("#dag-json", dag);
        await page.ClickAsync("#submit-dag");
        await DashboardSystem.WaitForUrlAsync(page, url => url.AbsolutePath.StartsWith("/dags/", StringComparison.Ordinal));
        await page.WaitForSelectorAsync("canvas#dag[data-drawn='true']");
        await page.EvaluateAsync("window.__sameDocument = 'yes'");

        var ids = await page.EvaluateAsync<long[]>("droverDag.ids()");
        Assert.Equal(6, ids.Length);
        // It starts with jobs not yet stopped, and then, from the event stream alone, ends.
        Assert.Equal("running", await page.GetAttributeAsync("#dag-state", "data-state"));
        await DashboardSystem.ScreenshotAsync(page, "dag-running", output);
        await Assertions.Expect(page.Locator("#dag-state")).ToHaveAttributeAsync("data-state", "stopped", new() { Timeout = 60_000 });
        Assert.Equal("yes", await page.EvaluateAsync<string>("window.__sameDocument"));
        Assert.Equal("error", await page.GetAttributeAsync("#dag-state", "data-status"));
        await Assertions.Expect(page.Locator("#dag-counts [data-look='good']")).ToHaveTextAsync("4 stopped good");
        await Assertions.Expect(page.Locator("#dag-counts [data-look='error']")).ToHaveTextAsync("1 stopped error");
        await Assertions.Expect(page.Locator("#dag-counts [data-look='skipped']")).ToHaveTextAsync("1 skipped");
        var right = await page.EvaluateAsync<JsonElement>($"droverDag.state({ids[2]})");
        Assert.Equal("exit_code", right.GetProperty("reason").GetString());
        await DashboardSystem.ScreenshotAsync(page, "dag-stopped", output);

        // A click on a box opens that job's page.
        var point = await page.EvaluateAsync<JsonElement>($"droverDag.point({ids[0]})");
        await page.Mouse.ClickAsync(point.GetProperty("x").GetSingle(), point.GetProperty("y").GetSingle());
        await DashboardSystem.WaitForUrlAsync(page, url => url.AbsolutePath == $"/jobs/{ids[0]}");
        await Assertions.Expect(page.Locator("#job-state")).ToContainTextAsync("good");
        await page.CloseAsync();
    }

    [Fact]
    public async Task A_running_job_that_submits_two_children_grows_its_graph_and_they_collapse()
    {
        using var client = system.Client(Trio.SubmitKey);
        string Child(string word) =>
            $"curl -sf -o /dev/null -H \"Authorization: Bearer $DROVER_TOKEN\" --data-urlencode 'command=sleep 1' -d request_id=$DROVER_JOB_ID.{word} \"$DROVER_URL/scheduler/jobs/new\"";
        // The job submits its children once the page shows it alone, so they can only arrive through the event stream.
        var go = Path.Combine(system.Trio.Root, "go-" + Guid.NewGuid().ToString("N"));
        var script = $"while [ ! -e {go} ]; do sleep 0.1; done && {Child("first")} && {Child("second")} && sleep 1";
        var parent = await Trio.SubmitAsync(client, JsonSerializer.Serialize(new
        {
            commands = new[] { new { shell = script } },
            wait_for_children = true,
            max_attempts = 1,
        }));
        var page = await system.SignedInAsync(Trio.SubmitKey, $"/dags/{parent}");
        await page.WaitForSelectorAsync("canvas#dag[data-drawn='true']");
        await page.EvaluateAsync("window.__sameDocument = 'yes'");
        Assert.Single(await page.EvaluateAsync<long[]>("droverDag.ids()"));
        await File.WriteAllTextAsync(go, "");

        await DashboardSystem.WaitForTrueAsync(page, "droverDag.ids().length === 3", 60);
        Assert.Equal("yes", await page.EvaluateAsync<string>("window.__sameDocument"));
        var record = await DashboardSystem.GetJsonAsync(client, $"/scheduler/jobs/{parent}");
        var children = record.GetProperty("children").EnumerateArray().Select(c => c.GetInt64()).ToArray();
        Assert.Equal(2, children.Length);
        Assert.Equal(children.Append(parent).Order(), (await page.EvaluateAsync<long[]>("droverDag.ids()")).Order());
        await DashboardSystem.ScreenshotAsync(page, "dag-children", output);

        // The parent's toggle collapses its children and expands them again.
        var toggle = await page.EvaluateAsync<JsonElement>($"droverDag.togglePoint({parent})");
        await page.Mouse.ClickAsync(toggle.GetProperty("x").GetSingle(), toggle.GetProperty("y").GetSingle());
        await DashboardSystem.WaitForTrueAsync(page, "droverDag.visible().length === 1");
        toggle = await page.EvaluateAsync<JsonElement>($"droverDag.togglePoint({parent})");
        await page.Mouse.ClickAsync(toggle.GetProperty("x").GetSingle(), toggle.GetProperty("y").GetSingle());
        await DashboardSystem.WaitForTrueAsync(page, "droverDag.visible().length === 3");

        await Assertions.Expect(page.Locator("#dag-state")).ToHaveAttributeAsync("data-state", "stopped", new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#dag-counts [data-look='good']")).ToHaveTextAsync("3 stopped good");
        await page.CloseAsync();
    }
}
