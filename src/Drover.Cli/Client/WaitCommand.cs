using System.CommandLine;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Drover.Contracts;

namespace Drover.Cli.Client;

/// <summary>
/// <c>drover wait &lt;ids&gt;</c>: waits until every job has stopped; exits 0 when all ended good, 1 otherwise. With
/// <c>--dag</c> it waits for each job's whole DAG. It asks for the status with a backoff (from 100 ms, doubling up to
/// 2 s), which costs the scheduler little however many jobs wait this way.
/// </summary>
internal static class WaitCommand
{
    public static Command Create()
    {
        var ids = new Argument<long[]>("ids") { Description = "Job ids.", Arity = ArgumentArity.OneOrMore };
        var dag = new Option<bool>("--dag") { Description = "Wait for the whole DAG of each job, good only if the DAG is." };
        var timeout = new Option<TimeSpan?>("--timeout") { Description = "Give up (exit 1) after this long, e.g. 00:10:00." };
        var url = new Option<string?>("--url") { Description = "Scheduler or gateway URL (default: $DROVER_URL, else " + DroverClient.DefaultUrl + ")." };
        var command = new Command("wait", "Wait for jobs to stop; exit 0 when all ended good, 1 otherwise.") { ids, dag, timeout, url };
        command.SetAction((result, cancel) => RunAsync(result.GetValue(ids)!, result.GetValue(dag), result.GetValue(timeout), result.GetValue(url), cancel));
        return command;
    }

    private static async Task<int> RunAsync(long[] ids, bool dag, TimeSpan? timeout, string? url, CancellationToken cancel)
    {
        using var client = DroverClient.Create(url);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        if (timeout is { } t)
            limit.CancelAfter(t);
        var pending = new HashSet<long>(ids);
        var failed = 0;
        var delay = TimeSpan.FromMilliseconds(100);
        try
        {
            while (pending.Count > 0)
            {
                foreach (var id in pending.ToList())
                {
                    var (state, status, detail) = await AskAsync(client, id, dag, limit.Token);
                    if (state != JobState.Stopped)
                        continue;
                    pending.Remove(id);
                    if (status != JobStatus.Good)
                        failed++;
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{(dag ? "dag of " : "")}{id}: {detail}"));
                }
                if (pending.Count == 0)
                    break;
                await Task.Delay(delay, limit.Token);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 2000));
            }
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync($"drover wait: gave up after {timeout}; still running: {string.Join(' ', pending)}");
            return 1;
        }
        catch (HttpRequestException e)
        {
            await Console.Error.WriteLineAsync($"drover wait: {e.Message}");
            return 1;
        }
        return failed == 0 ? 0 : 1;
    }

    private static async Task<(JobState State, JobStatus Status, string Detail)> AskAsync(HttpClient client, long id, bool dag, CancellationToken cancel)
    {
        var path = "scheduler/jobs/" + id.ToString(CultureInfo.InvariantCulture) + (dag ? "/dag" : "/status");
        using var response = await client.GetAsync(path, cancel);
        if (response.StatusCode == HttpStatusCode.NotFound)
            return (JobState.Stopped, JobStatus.Error, "no such job");
        if (!response.IsSuccessStatusCode)
        {
            var body = await response.Content.ReadAsStringAsync(cancel);
            throw new HttpRequestException(string.Create(CultureInfo.InvariantCulture, $"GET /{path} answered {(int)response.StatusCode}: {body}"));
        }
        if (dag)
        {
            var view = (await response.Content.ReadFromJsonAsync<DagView>(DroverJson.Options, cancel))!;
            return (view.State, view.Status, $"{Word(view.Status)} ({view.Jobs.Count} jobs)");
        }
        var job = (await response.Content.ReadFromJsonAsync<JobStatusView>(DroverJson.Options, cancel))!;
        return (job.State, job.Status, Word(job.Status) + (job.Reason is { } reason ? $" ({Word(reason)})" : ""));
    }

    private static string Word<T>(T value) where T : struct, Enum => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
