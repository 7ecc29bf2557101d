using System.Threading.Channels;
using Drover.Contracts;
using Drover.Processor.Metrics;
using Microsoft.Extensions.Options;

namespace Drover.Processor.Push;

/// <summary>
/// Job state changes on their way to the scheduler. Bounded and lossy on purpose: pushes are only the fast path
/// (the scheduler's poll is the path that is always right), and a scheduler that is away must not make the node
/// hold memory without end.
/// </summary>
internal sealed class JobEvents(IOptions<ProcessorOptions> options, ProcessorMetrics metrics)
{
    private readonly Channel<NodeJobStatus> _changes = Channel.CreateBounded<NodeJobStatus>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

    public bool Enabled { get; } = options.Value.Schedulers().Count > 0;

    public ChannelReader<NodeJobStatus> Changes => _changes.Reader;

    public void Publish(NodeJobStatus status)
    {
        metrics.Changed(status);
        if (Enabled)
            _changes.Writer.TryWrite(status);
    }
}
