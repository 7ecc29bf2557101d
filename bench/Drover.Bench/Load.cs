using System.Collections.Concurrent;
using System.Diagnostics;

namespace Drover.Bench;

internal static class Load
{
    /// <summary>Runs <paramref name="count"/> calls with <paramref name="concurrency"/> in flight; returns each call's milliseconds and the wall time.</summary>
    public static async Task<(List<double> Latencies, TimeSpan Elapsed)> RunAsync(int count, int concurrency, Func<int, Task> call)
    {
        var latencies = new ConcurrentBag<double>();
        var next = -1;
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < count)
            {
                var start = Stopwatch.GetTimestamp();
                await call(i);
                latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        })));
        return ([.. latencies], clock.Elapsed);
    }
}
