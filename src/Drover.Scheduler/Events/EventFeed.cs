namespace Drover.Scheduler.Events;

/// <summary>
/// Tells event streams that the store committed new events. Every waiter is woken at once (a stream then reads what
/// is new from the store, which stays the one source of truth), so no stream polls.
/// </summary>
internal sealed class EventFeed
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Published() => Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();

    /// <summary>A task that completes at the next <see cref="Published"/>; take it before reading, so nothing slips between.</summary>
    public Task Next => Volatile.Read(ref _next).Task;
}
