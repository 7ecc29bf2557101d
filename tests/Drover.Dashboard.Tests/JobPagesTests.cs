using System.Net;
using System.Text.Json;

namespace Drover.Dashboard.Tests;

[Collection(DashboardGroup.Name)]
public sealed class JobPagesTests(DashboardSystem system, ITestOutputHelper output)
{
    [Fact]
    public async Task Kill_from_the_job_page_ends_the_job_and_its_log_follows()
    {
        using var client = system.Client(Trio.SubmitKey);
        var id = await Trio.SubmitAsync(client, """
            {"commands": [{"shell": "printf '\\033[32mgreen\\033[0m plain\\n'; sleep 60"}], "environment": {"SECRET_TOKEN": "hunter2"}, "max_attempts": 1}
            """);
        var page = await system.SignedInAsync(Trio.SubmitKey, $"/jobs/{id}");
        await Assertions.Expect(page.Locator("#job-state [data-state]")).ToHaveAttributeAsync("data-state", "running", new() { Timeout = 60_000 });
        // The log follows as it is written, colours rendered; environment values stay hidden until asked for.
        await Assertions.Expect(page.Locator("#log .fg-2")).ToHaveTextAsync("green");
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("plain");
        await Assertions.Expect(page.Locator(".env")).Not.ToContainTextAsync("hunter2");
        await page.ClickAsync("text=Show values");
        await Assertions.Expect(page.Locator(".env")).ToContainTextAsync("hunter2");
        await DashboardSystem.ScreenshotAsync(page, "job-running", output);

        await page.ClickAsync("#kill");
        await Assertions.Expect(page.Locator("#job-state [data-state]")).ToHaveAttributeAsync("data-state", "stopped");
        await Assertions.Expect(page.Locator("#job-state")).ToContainTextAsync("killed");
        var status = await Trio.WaitForStateAsync(client, id, "stopped");
        Assert.Equal("killed", status.GetProperty("reason").GetString());
        await Assertions.Expect(page.Locator("#retry")).ToBeVisibleAsync();
        await DashboardSystem.ScreenshotAsync(page, "job-killed", output);
        await page.CloseAsync();
    }

    [Fact]
    public async Task Filters_and_search_narrow_the_list_and_chosen_rows_are_killed_together()
    {
        using var client = system.Client(Trio.SubmitKey);
        var word = "w" + Guid.NewGuid().ToString("N")[..8];
        // Labels no node has: the jobs stay queued, so the list holds still while it is filtered.
        string Job(string what, string zone) => JsonSerializer.Serialize(new
        {
            commands = new[] { new { exec = new[] { "echo", word, what } } },
            constraints = new { labels = new Dictionary<string, string> { ["zone"] = zone } },
        });
        var build = await Trio.SubmitAsync(client, Job("build", "nowhere-a"));
        var test = await Trio.SubmitAsync(client, Job("test", "nowhere-b"));
        var deploy = await Trio.SubmitAsync(client, Job("deploy", "nowhere-a"));

        var page = await system.SignedInAsync(Trio.SubmitKey, "/jobs");
        var rows = page.Locator("#job-list tbody tr");
        await page.FillAsync("#f-q", word);
        await page.ClickAsync("#apply");
        await DashboardSystem.WaitForUrlAsync(page, url => url.Query.Contains(word, StringComparison.Ordinal));
        await Assertions.Expect(rows).ToHaveCountAsync(3);

        await page.FillAsync("#f-q", $"{word} deploy");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-job", DashboardSystem.Id(deploy));

        await page.FillAsync("#f-q", word);
        await page.FillAsync("#f-label", "zone=nowhere-a");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        var shown = await rows.EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.job)");
        Assert.Equal([DashboardSystem.Id(build), DashboardSystem.Id(deploy)], shown);
        await DashboardSystem.ScreenshotAsync(page, "jobs-filtered", output);

        // Both rows chosen, one click kills them; the state filter then finds them stopped, and the test job still queued.
        await page.CheckAsync($"input[data-job='{build}']");
        await page.CheckAsync($"input[data-job='{deploy}']");
        await Assertions.Expect(page.Locator("#chosen-count")).ToHaveTextAsync("2 chosen");
        await page.ClickAsync("#kill-chosen");
        await Assertions.Expect(page.Locator("#job-list [data-state='stopped']")).ToHaveCountAsync(2);
        await page.SelectOptionAsync("#f-state", "queued");
        await page.FillAsync("#f-label", "");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(1);
        await Assertions.Expect(rows.First).ToHaveAttributeAsync("data-job", DashboardSystem.Id(test));
        await page.SelectOptionAsync("#f-state", "");
        await page.SelectOptionAsync("#f-reason", "killed");
        await page.ClickAsync("#apply");
        await Assertions.Expect(rows).ToHaveCountAsync(2);
        Assert.Equal("killed", (await Trio.WaitForStateAsync(client, build, "stopped")).GetProperty("reason").GetString());
        (await client.PostAsync($"/scheduler/jobs/{test}/kill", null)).EnsureSuccessStatusCode();
        await page.CloseAsync();
    }

    [Fact]
    public async Task A_read_only_key_sees_no_kill_or_submit_buttons_and_its_forged_requests_get_403()
    {
        using var submitter = system.Client(Trio.SubmitKey);
        var id = await Trio.SubmitAsync(submitter, """{"commands": [{"exec": ["sleep", "60"]}], "max_attempts": 1}""");
        await Trio.WaitForStateAsync(submitter, id, "running");

        var page = await system.SignedInAsync(Trio.ReadKey, $"/jobs/{id}");
        await Assertions.Expect(page.Locator("#job-state [data-state]")).ToHaveAttributeAsync("data-state", "running");
        await Assertions.Expect(page.Locator("#who-name")).ToHaveTextAsync("reader (read)");
        Assert.Equal(0, await page.Locator("#kill, #retry, #update").CountAsync());
        Assert.False(await page.Locator("#nav-submit").IsVisibleAsync());
        await DashboardSystem.ScreenshotAsync(page, "job-read-only", output);

        await page.GotoAsync(new Uri(system.Trio.GatewayUrl, "/jobs").ToString());
        await Assertions.Expect(page.Locator($"#job-list tr[data-job='{id}']")).ToBeVisibleAsync();
        Assert.Equal(0, await page.Locator("#kill-chosen, #retry-chosen").CountAsync());
        await page.GotoAsync(new Uri(system.Trio.GatewayUrl, "/submit").ToString());
        await Assertions.Expect(page.Locator("main")).ToContainTextAsync("Your key may not submit jobs.");
        Assert.Equal(0, await page.Locator("#submit-job, #submit-dag").CountAsync());

        // The same calls the buttons would make, forged from the page with the reader's key: the gateway refuses them.
        var codes = await page.EvaluateAsync<int[]>($$"""
            async () => {
              const auth = { Authorization: 'Bearer ' + sessionStorage.getItem('drover.key') };
              const kill = await fetch('/scheduler/jobs/{{id}}/kill', { method: 'POST', headers: auth });
              const submit = await fetch('/scheduler/jobs/new', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
                body: JSON.stringify({ commands: [{ exec: ['true'] }] }) });
              const dag = await fetch('/scheduler/dags/new', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' },
                body: JSON.stringify({ jobs: { a: { commands: [['true']] } } }) });
              const drain = await fetch('/scheduler/nodes/node1/drain', { method: 'POST', headers: auth });
              return [kill.status, submit.status, dag.status, drain.status];
            }
            """);
        Assert.Equal([403, 403, 403, 403], codes);
        var status = await DashboardSystem.GetJsonAsync(submitter, $"/scheduler/jobs/{id}/status");
        Assert.Equal("running", status.GetProperty("state").GetString());
        (await submitter.PostAsync($"/scheduler/jobs/{id}/kill", null)).EnsureSuccessStatusCode();
        await page.CloseAsync();
    }

    [Fact]
    public async Task The_submit_form_sends_a_command_line_with_environment_and_a_file()
    {
        var page = await system.SignedInAsync(Trio.SubmitKey, "/submit");
        await page.SelectOptionAsync("#mode", "shell");
        await page.FillAsync("#command", "echo \"$GREETING\" && cat notes.txt");
        await page.FillAsync("#env", "GREETING=hello from the form");
        await page.SetInputFilesAsync("#files", new FilePayload { Name = "notes.txt", MimeType = "text/plain", Buffer = "an uploaded line\n"u8.ToArray() });
        await page.FillAsync("#timeout", "30");
        await page.ClickAsync("#submit-job");
        await DashboardSystem.WaitForUrlAsync(page, url => System.Text.RegularExpressions.Regex.IsMatch(url.AbsolutePath, "^/jobs/[0-9]+$"));
        var id = long.Parse(new Uri(page.Url).AbsolutePath["/jobs/".Length..], System.Globalization.CultureInfo.InvariantCulture);
        await Assertions.Expect(page.Locator("#job-state [data-state]")).ToHaveAttributeAsync("data-state", "stopped", new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#log")).ToContainTextAsync("hello from the form\nan uploaded line");
        using var client = system.Client(Trio.SubmitKey);
        var record = await DashboardSystem.GetJsonAsync(client, $"/scheduler/jobs/{id}");
        Assert.Equal(30, record.GetProperty("spec").GetProperty("timeout_seconds").GetDouble());
        Assert.Equal("notes.txt", record.GetProperty("spec").GetProperty("files")[0].GetString());

        // A bad field comes back as the problem naming it, shown on the form.
        await page.GotoAsync(new Uri(system.Trio.GatewayUrl, "/submit").ToString());
        await page.FillAsync("#command", "true");
        await page.FillAsync("#depends_on", "sometime:12");
        await page.ClickAsync("#submit-job");
        await Assertions.Expect(page.Locator("#job-form .error")).ToContainTextAsync("depends_on");
        await page.CloseAsync();
    }
}
