using Drover.Cli.Client;
using Drover.Contracts;

namespace Drover.Cli.Jobs;

/// <summary>
/// Asks for a job's status until it has stopped, with a backoff (from 100 ms, doubling up to 2 s), which costs the
/// scheduler little however many clients wait this way.
/// </summary>
internal sealed class JobWaiter
{
    private static readonly TimeSpan First = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(2);

    private TimeSpan _delay = First;

    public async Task PauseAsync(CancellationToken cancellationToken)
    {
        await Task.Delay(_delay, cancellationToken);
        _delay = TimeSpan.FromMilliseconds(Math.Min(_delay.TotalMilliseconds * 2, Longest.TotalMilliseconds));
    }

    public static async Task<JobStatusView> UntilStoppedAsync(DroverApi api, long id, CancellationToken cancellationToken)
    {
        var waiter = new JobWaiter();
        while (true)
        {
            var job = await api.GetStatusAsync(id, cancellationToken);
            if (job.State == JobState.Stopped)
                return job;
            await waiter.PauseAsync(cancellationToken);
        }
    }
}
