using System.Threading.Channels;

namespace Drover.Scheduler.Placement;

/// <summary>Wakes the placement loop: a submission, a finished attempt, a node that came up or freed a slot.</summary>
internal sealed class PlacementSignal
{
    // One pending wake-up is enough: the loop looks at everything queued when it runs.
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    public void Wake() => _channel.Writer.TryWrite(true);

    /// <summary>Waits for a wake-up or until <paramref name="timeout"/> passes (the reconciling tick).</summary>
    public async Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var timer = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timer.CancelAfter(timeout);
        try
        {
            await _channel.Reader.ReadAsync(timer.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            // the tick: look again even though nobody asked
        }
    }
}
