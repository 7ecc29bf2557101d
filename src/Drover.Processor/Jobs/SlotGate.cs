using Microsoft.Extensions.Options;

namespace Drover.Processor.Jobs;

/// <summary>Counts the jobs that hold a slot (queued or running), so that one over the limit is refused before anything is written.</summary>
internal sealed class SlotGate(IOptions<ProcessorOptions> options)
{
    private int _inUse;

    public int Capacity => options.Value.Slots;

    public int InUse => Volatile.Read(ref _inUse);

    public bool TryReserve()
    {
        var capacity = Capacity;
        while (true)
        {
            var inUse = Volatile.Read(ref _inUse);
            if (inUse >= capacity)
                return false;
            if (Interlocked.CompareExchange(ref _inUse, inUse + 1, inUse) == inUse)
                return true;
        }
    }

    /// <summary>Takes a slot whatever the limit: a job found queued or running at start-up holds one already.</summary>
    public void Take() => Interlocked.Increment(ref _inUse);

    public void Release() => Interlocked.Decrement(ref _inUse);
}
