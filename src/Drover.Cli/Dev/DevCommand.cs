using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using Drover.Gateway;
using Drover.Processor;
using Drover.Scheduler;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace Drover.Cli.Dev;

/// <summary>
/// <c>drover dev</c>: the gateway, the scheduler and one local Processor in one process on 127.0.0.1, with a SQLite
/// store under <c>./.drover/</c>. The services still talk to each other over HTTP with their own generated tokens,
/// exactly as when they run apart; only the user-facing gateway is open (and only on loopback) unless keys are set.
/// </summary>
internal static class DevCommand
{
    public static Command Create()
    {
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "Where the store, uploads and job state live.", DefaultValueFactory = _ => new DirectoryInfo(".drover") };
        var host = new Option<string>("--host") { Description = "Address every service binds to.", DefaultValueFactory = _ => "127.0.0.1" };
        var gatewayPort = new Option<int>("--gateway-port") { DefaultValueFactory = _ => 8080 };
        var schedulerPort = new Option<int>("--scheduler-port") { DefaultValueFactory = _ => 8081 };
        var processorPort = new Option<int>("--processor-port") { DefaultValueFactory = _ => 8082 };
        var slots = new Option<int?>("--slots") { Description = "Jobs the local Processor runs at once (default: number of cores)." };

        var command = new Command("dev", "Run the gateway, the scheduler and one Processor on this machine.")
        {
            dataDir, host, gatewayPort, schedulerPort, processorPort, slots,
        };
        command.SetAction((result, cancel) => RunAsync(new DevSettings(
            result.GetValue(dataDir)!, result.GetValue(host)!,
            result.GetValue(gatewayPort), result.GetValue(schedulerPort), result.GetValue(processorPort),
            result.GetValue(slots)), cancel));
        return command;
    }

    private sealed record DevSettings(DirectoryInfo DataDir, string Host, int GatewayPort, int SchedulerPort, int ProcessorPort, int? Slots);

    private static async Task<int> RunAsync(DevSettings s, CancellationToken cancel)
    {
        // The data directory holds the database, the jobs' specs and their uploads: this user's alone.
        var data = PrivateFiles.CreateDirectory(s.DataDir.FullName).FullName;
        // Tokens between the services are made anew at each start: nothing outside this process needs them.
        var schedulerToken = NewToken();
        var processorToken = NewToken();
        var jobTokenKey = NewToken();
        var nodeCredential = NewToken(); // the local Processor's own: it may heartbeat and push as "local", nothing else
        string Url(int port) => string.Create(CultureInfo.InvariantCulture, $"http://{s.Host}:{port}");
        var gatewayUrl = Url(s.GatewayPort);
        var schedulerUrl = Url(s.SchedulerPort);
        var processorUrl = Url(s.ProcessorPort);

        var processorArgs = new List<string>
        {
            "--urls", processorUrl,
            $"--Processor:Name=local",
            $"--Processor:StateDirectory={Path.Combine(data, "state")}",
            $"--Processor:Token={processorToken}",
            $"--Processor:SchedulerUrl={schedulerUrl}",
            $"--Processor:SchedulerToken={nodeCredential}",
        };
        if (s.Slots is { } n)
            processorArgs.Add(string.Create(CultureInfo.InvariantCulture, $"--Processor:Slots={n}"));

        var services = new Func<WebApplication>[]
        {
            () => SchedulerApp.Create(
            [
                "--urls", schedulerUrl,
                $"--Scheduler:Database={Path.Combine(data, "scheduler.db")}",
                $"--Scheduler:DataDirectory={Path.Combine(data, "uploads")}",
                $"--Scheduler:Token={schedulerToken}",
                $"--Scheduler:NodeToken={processorToken}",
                $"--Scheduler:NodeCredentials:local={nodeCredential}",
                $"--Scheduler:JobTokenKey={jobTokenKey}",
                $"--Scheduler:PublicUrl={gatewayUrl}",
            ]),
            () => ProcessorApp.Create([.. processorArgs]),
            () => GatewayApp.Create(
            [
                "--urls", gatewayUrl,
                $"--Gateway:SchedulerUrls:0={schedulerUrl}",
                $"--Gateway:SchedulerToken={schedulerToken}",
                $"--Gateway:ProcessorUrl={processorUrl}",
                $"--Gateway:ProcessorToken={processorToken}",
                $"--Gateway:NodeToken={processorToken}",
                $"--Gateway:JobTokenKey={jobTokenKey}",
            ]),
        };

        // One after the other, the scheduler first, so the Processor's first heartbeat and the gateway's first health
        // probe (which begins as soon as the gateway is built) find it listening.
        var apps = new List<WebApplication>();
        foreach (var create in services)
        {
            var app = create();
            apps.Add(app);
            await app.StartAsync(cancel);
        }

        Console.WriteLine($"""

            Drover is running (data in {data}):
              gateway    {gatewayUrl}   (open on {s.Host} only: no API keys are configured)
              scheduler  {schedulerUrl}
              processor  {processorUrl}
              Swagger UI {gatewayUrl}/swagger

            Try:
              curl -d 'command=echo "hello from drover"' {gatewayUrl}/scheduler/jobs/new
              curl {gatewayUrl}/scheduler/jobs/1/status
              curl {gatewayUrl}/scheduler/jobs/1/log
              drover submit --wait -- echo "hello from drover"    (drover --help lists every command)

            Ctrl-C stops everything.
            """);

        // Ctrl-C reaches every app's own lifetime; whichever stops first takes the others with it.
        await Task.WhenAny(apps.Select(a => a.WaitForShutdownAsync(cancel)));
        foreach (var app in Enumerable.Reverse(apps))
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
        return 0;
    }

    private static string NewToken() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
}
