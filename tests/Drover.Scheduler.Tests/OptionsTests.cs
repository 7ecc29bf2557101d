using Microsoft.Extensions.Options;

namespace Drover.Scheduler.Tests;

public sealed class OptionsTests
{
    [Fact]
    public async Task Wrong_settings_stop_the_start_and_are_all_reported_at_once()
    {
        var directory = Path.Combine(Path.GetTempPath(), "drover-scheduler-tests", Guid.NewGuid().ToString("N"));
        string[] args =
        [
            "--urls", "http://127.0.0.1:0",
            $"--Scheduler:Database={Path.Combine(directory, "s.db")}",
            "--Scheduler:PollInterval=00:00:00",
            "--Scheduler:Nodes:0:Name=../bad",
            "--Scheduler:Nodes:0:Uri=ftp://x",
            "--Scheduler:DefaultMaxAttempts=0",
        ];
        var error = await Assert.ThrowsAsync<OptionsValidationException>(async () =>
        {
            await using var app = SchedulerApp.Create(args);
            await app.StartAsync();
        });
        Assert.Contains(error.Failures, f => f.Contains("PollInterval", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Nodes:0:Name", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("Nodes:0:Uri", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.Contains("DefaultMaxAttempts", StringComparison.Ordinal));
    }

    [Fact]
    public void Listening_beyond_loopback_without_a_token_is_refused() =>
        Assert.Throws<InvalidOperationException>(() => SchedulerApp.Create(["--urls", "http://0.0.0.0:0"]));
}
