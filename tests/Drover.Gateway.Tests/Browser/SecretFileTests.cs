using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Drover.Scheduler;

namespace Drover.Gateway.Tests.Browser;

/// <summary>The scheduler's files are private, and every service takes its tokens and keys from files.</summary>
[Collection(OpenTrioGroup.Name)]
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // file modes
public sealed class SecretFileTests(OpenTrio trio)
{
    private const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode PrivateDirectory = Private | UnixFileMode.UserExecute;

    [Fact]
    public async Task The_database_and_uploads_are_the_scheduler_users_alone()
    {
        using var gateway = trio.Client();
        using var form = new MultipartFormDataContent
        {
            { new StringContent("""{"commands": [{"exec": ["sleep", "30"]}], "environment": {"SECRET": "s"}}""", Encoding.UTF8, "application/json"), "spec" },
            { new ByteArrayContent("upload"u8.ToArray()), "input.txt", "input.txt" },
        };
        using var response = await gateway.PostAsync("/scheduler/jobs/new", form);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, body);
        var id = System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("job_id").GetInt64();
        try
        {
            // While the job runs its upload waits in the scheduler's data directory (a retry elsewhere needs it again).
            Assert.True(File.GetUnixFileMode(trio.Uploads) == PrivateDirectory, $"{trio.Uploads}: {File.GetUnixFileMode(trio.Uploads)}");
            foreach (var dir in Directory.EnumerateDirectories(trio.Uploads))
            {
                Assert.Equal(PrivateDirectory, File.GetUnixFileMode(dir));
                foreach (var file in Directory.EnumerateFiles(dir))
                    Assert.True(File.GetUnixFileMode(file) == Private, $"{file}: {File.GetUnixFileMode(file)}");
            }
            foreach (var file in new[] { trio.Database, trio.Database + "-wal", trio.Database + "-shm" })
                Assert.True(File.GetUnixFileMode(file) == Private, $"{file}: {File.GetUnixFileMode(file)}");
        }
        finally
        {
            using var kill = await gateway.PostAsync($"/scheduler/jobs/{id}/kill", null);
            await Trio.WaitForStateAsync(gateway, id, "stopped");
        }
    }

    [Fact]
    public async Task Tokens_and_keys_can_be_given_by_file()
    {
        var dir = Directory.CreateDirectory(Path.Combine(trio.Root, "secrets-" + Guid.NewGuid().ToString("N"))).FullName;
        string Secret(string name, string value)
        {
            var path = Path.Combine(dir, name);
            File.WriteAllText(path, value + "\n");
            return path;
        }

        await using var scheduler = SchedulerApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Scheduler:Database", Path.Combine(dir, "scheduler.db"),
            "--Scheduler:DataDirectory", Path.Combine(dir, "uploads"),
            "--Scheduler:TokenFile", Secret("scheduler-token", "scheduler-secret")]);
        await scheduler.StartAsync();
        var schedulerUrl = new Uri(scheduler.Urls.First());
        using (var direct = trio.Client(schedulerUrl))
        {
            using var refused = await direct.GetAsync("/scheduler/nodes");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        await using var gateway = GatewayApp.Create([
            "--urls", "http://127.0.0.1:0",
            "--Gateway:SchedulerUrls", schedulerUrl.ToString(),
            "--Gateway:SchedulerTokenFile", Secret("gateway-scheduler-token", "scheduler-secret"),
            "--Gateway:Keys:0:Name", "reader", "--Gateway:Keys:0:Role", "read",
            "--Gateway:Keys:0:KeyFile", Secret("read-key", "read-key-from-file")]);
        await gateway.StartAsync();
        using var client = trio.Client(new Uri(gateway.Urls.First()));
        using var anonymous = await client.GetAsync("/scheduler/nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "read-key-from-file");
        using var read = await client.GetAsync("/scheduler/nodes");
        Assert.Equal(HttpStatusCode.OK, read.StatusCode);

        await gateway.StopAsync();
        await scheduler.StopAsync();
    }
}
