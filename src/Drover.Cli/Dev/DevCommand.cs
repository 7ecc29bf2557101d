using System.CommandLine;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Drover.Cli.Terminal;
using Drover.Gateway;
using Drover.Processor;
using Drover.Scheduler;
using Drover.ServiceDefaults;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;

namespace Drover.Cli.Dev;

/// <summary>
/// <c>drover dev</c>: the gateway, the scheduler (or several, over one PostgreSQL database) and one local Processor in
/// one process on 127.0.0.1, with a SQLite store under <c>./.drover/</c> unless <c>--database</c> names another. The
/// services still talk to each other over HTTP with their own generated tokens, exactly as when they run apart; only
/// the user-facing gateway is open (and only on loopback) unless keys are set.
/// </summary>
internal static partial class DevCommand
{
    private const int MaxSchedulers = 16;

    public static Command Create()
    {
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "Where the store, uploads and job state live.", DefaultValueFactory = _ => new DirectoryInfo(".drover") };
        var host = new Option<string>("--host") { Description = "Address every service binds to.", DefaultValueFactory = _ => "127.0.0.1" };
        var gatewayPort = new Option<int>("--gateway-port") { DefaultValueFactory = _ => 8080 };
        var schedulerPort = new Option<int>("--scheduler-port") { DefaultValueFactory = _ => 8081 };
        var processorPort = new Option<int?>("--processor-port") { Description = "Default: the port after the last scheduler's (8082 with one scheduler)." };
        var slots = new Option<int?>("--slots") { Description = "Jobs the local Processor runs at once (default: number of cores)." };
        var database = new Option<string?>("--database")
        {
            Description = "The schedulers' store: a SQLite file (default: scheduler.db in the data directory) or a PostgreSQL database, " +
                "postgresql://user@host:port/db. Leave the password out of the URI: it is then read from PGPASSWORD or PGPASSFILE (~/.pgpass).",
        };
        var schedulers = new Option<int>("--schedulers")
        {
            Description = $"How many schedulers to run, on --scheduler-port and the ports after it (at most {MaxSchedulers}; more than one needs a PostgreSQL --database).",
            DefaultValueFactory = _ => 1,
        };

        var command = new Command("dev", "Run the gateway, the scheduler and one Processor on this machine.")
        {
            dataDir, host, gatewayPort, schedulerPort, processorPort, slots, database, schedulers,
        };
        command.SetAction((result, cancel) => RunAsync(new DevSettings(
            result.GetValue(dataDir)!, result.GetValue(host)!, result.GetValue(database),
            result.GetValue(gatewayPort), result.GetValue(schedulerPort), result.GetValue(schedulers), result.GetValue(processorPort),
            result.GetValue(slots)), cancel));
        return command;
    }

    private sealed record DevSettings(
        DirectoryInfo DataDir, string Host, string? Database, int GatewayPort, int SchedulerPort, int Schedulers, int? ProcessorPortOption, int? Slots)
    {
        /// <summary>The scheduler's own rule: a <c>postgresql://</c> (or <c>postgres://</c>) URI or Npgsql's keyword form.</summary>
        public bool OnPostgres => Database is { } database &&
            (database.StartsWith("postgresql://", StringComparison.OrdinalIgnoreCase) || database.StartsWith("postgres://", StringComparison.OrdinalIgnoreCase)
             || database.Contains("host=", StringComparison.OrdinalIgnoreCase));

        /// <summary>After the schedulers', so that a default never collides with one of them.</summary>
        public int ProcessorPort => ProcessorPortOption ?? SchedulerPort + Schedulers;

        public IEnumerable<int> SchedulerPorts => Enumerable.Range(SchedulerPort, Schedulers);

        /// <summary>Everything wrong with the command line, each a line to print.</summary>
        public IEnumerable<string> Problems()
        {
            if (Schedulers is < 1 or > MaxSchedulers)
            {
                yield return $"--schedulers is 1 to {MaxSchedulers}";
                yield break;
            }
            if (Schedulers > 1 && !OnPostgres)
                yield return "several schedulers need a PostgreSQL database: --database postgresql://...";
            var owners = new Dictionary<int, string>();
            var services = new List<(int Port, string Name)> { (GatewayPort, "the gateway") };
            services.AddRange(SchedulerPorts.Select((port, i) => (port, Schedulers == 1 ? "the scheduler" : $"scheduler {i + 1}")));
            services.Add((ProcessorPort, "the Processor"));
            foreach (var (port, name) in services)
            {
                if (port is < 1 or > 65535)
                    yield return $"{name} would listen on port {port}, which is not a port";
                else if (!owners.TryAdd(port, name))
                    yield return $"{owners[port]} and {name} would both listen on port {port}: choose --gateway-port, --scheduler-port or --processor-port apart";
            }
        }
    }

    private static async Task<int> RunAsync(DevSettings s, CancellationToken cancel)
    {
        // Checked here, not by a parser validator: only the action sees the options' defaults (the ports), and they
        // are part of what may collide.
        var problems = s.Problems().ToList();
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
                Console.Error.WriteLine("drover: " + problem);
            return ExitCodes.Usage;
        }
        // The data directory holds the database, the jobs' specs and their uploads: this user's alone.
        var data = PrivateFiles.CreateDirectory(s.DataDir.FullName).FullName;
        // Tokens between the services are made anew at each start: nothing outside this process needs them.
        var schedulerToken = NewToken();
        var processorToken = NewToken();
        var jobTokenKey = NewToken();
        var nodeCredential = NewToken(); // the local Processor's own: it may heartbeat and push as "local", nothing else
        string Url(int port) => string.Create(CultureInfo.InvariantCulture, $"http://{s.Host}:{port}");
        var gatewayUrl = Url(s.GatewayPort);
        var schedulerUrls = s.SchedulerPorts.Select(Url).ToList();
        var processorUrl = Url(s.ProcessorPort);
        // A PostgreSQL URI goes to every scheduler as it is (its password, if any, stays out of what is printed).
        var database = s.OnPostgres ? s.Database! : Path.GetFullPath(s.Database ?? Path.Combine(data, "scheduler.db"));

        var processorArgs = new List<string>
        {
            "--urls", processorUrl,
            $"--Processor:Name=local",
            $"--Processor:StateDirectory={Path.Combine(data, "state")}",
            $"--Processor:Token={processorToken}",
            $"--Processor:SchedulerToken={nodeCredential}",
        };
        processorArgs.AddRange(schedulerUrls.Select((url, i) => string.Create(CultureInfo.InvariantCulture, $"--Processor:SchedulerUrls:{i}={url}")));
        if (s.Slots is { } n)
            processorArgs.Add(string.Create(CultureInfo.InvariantCulture, $"--Processor:Slots={n}"));

        var gatewayArgs = new List<string>
        {
            "--urls", gatewayUrl,
            $"--Gateway:SchedulerToken={schedulerToken}",
            $"--Gateway:ProcessorUrl={processorUrl}",
            $"--Gateway:ProcessorToken={processorToken}",
            $"--Gateway:NodeToken={processorToken}",
            $"--Gateway:JobTokenKey={jobTokenKey}",
        };
        gatewayArgs.AddRange(schedulerUrls.Select((url, i) => string.Create(CultureInfo.InvariantCulture, $"--Gateway:SchedulerUrls:{i}={url}")));

        // Every scheduler alike: one store, one uploads directory, the same tokens and job-token key, so that any of
        // them can answer any call.
        var services = schedulerUrls.Select(url => (Func<WebApplication>)(() => SchedulerApp.Create(
            [
                "--urls", url,
                $"--Scheduler:Database={database}",
                $"--Scheduler:DataDirectory={Path.Combine(data, "uploads")}",
                $"--Scheduler:Token={schedulerToken}",
                $"--Scheduler:NodeToken={processorToken}",
                $"--Scheduler:NodeCredentials:local={nodeCredential}",
                $"--Scheduler:JobTokenKey={jobTokenKey}",
                $"--Scheduler:PublicUrl={gatewayUrl}",
            ])))
            .Append(() => ProcessorApp.Create([.. processorArgs]))
            .Append(() => GatewayApp.Create([.. gatewayArgs]));

        // One after the other, the schedulers first, so the Processor's first heartbeat and the gateway's first health
        // probe (which begins as soon as the gateway is built) find them listening.
        var apps = new List<WebApplication>();
        try
        {
            foreach (var create in services)
            {
                var app = create();
                apps.Add(app);
                await app.StartAsync(cancel);
            }
        }
        catch
        {
            await StopAsync(apps);
            throw;
        }

        var schedulerLines = string.Join("\n  ", schedulerUrls.Select(url => $"scheduler  {url}"));
        Console.WriteLine($"""

            Drover is running (data in {data}):
              gateway    {gatewayUrl}   (open on {s.Host} only: no API keys are configured)
              {schedulerLines}
              processor  {processorUrl}
              store      {Displayed(database)}
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
        await StopAsync(apps);
        return 0;
    }

    private static async Task StopAsync(List<WebApplication> apps)
    {
        foreach (var app in Enumerable.Reverse(apps))
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    /// <summary>The store as printed: a PostgreSQL database without its password.</summary>
    private static string Displayed(string database)
    {
        if (database.Contains("host=", StringComparison.OrdinalIgnoreCase))
            return KeywordPassword().Replace(database, "${key}***");
        if (!Uri.TryCreate(database, UriKind.Absolute, out var uri) || uri.IsFile || !uri.UserInfo.Contains(':', StringComparison.Ordinal))
            return database;
        return new UriBuilder(uri) { Password = "***" }.Uri.ToString();
    }

    [GeneratedRegex("(?<key>(?:^|;)\\s*(?:password|pwd)\\s*=)[^;]*", RegexOptions.IgnoreCase)]
    private static partial Regex KeywordPassword();

    private static string NewToken() => Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
}
