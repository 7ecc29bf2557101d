using System.Threading.Channels;

namespace Drover.Scheduler.Placement;

/// <summary>
/// Wakes the placement loop: a submission, a finished attempt, a node that came up or freed a slot, or the moment a
/// retry's backoff ends.
/// </summary>
internal sealed class PlacementSignal(TimeProvider time) : IDisposable
{
    // One pending wake-up is enough: the loop looks at everything queued when it runs.
    private readonly Channel<bool> _channel = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private readonly Lock _lock = new();
    private ITimer? _timer;
    private DateTimeOffset _timerAt = DateTimeOffset.MaxValue;

    public void Wake() => _channel.Writer.TryWrite(true);

    /// <summary>Wakes the loop at <paramref name="at"/>; one timer, for the earliest moment asked for.</summary>
    public void WakeAt(DateTimeOffset at)
    {
        lock (_lock)
        {
            if (at >= _timerAt)
                return;
            _timer?.Dispose();
            _timerAt = at;
            var due = at - time.GetUtcNow();
            _timer = time.CreateTimer(_ => Fire(), null, due > TimeSpan.Zero ? due : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fire()
    {
        lock (_lock)
            _timerAt = DateTimeOffset.MaxValue;
        Wake();
    }

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

    public void Dispose()
    {
        lock (_lock)
            _timer?.Dispose();
    }
}
