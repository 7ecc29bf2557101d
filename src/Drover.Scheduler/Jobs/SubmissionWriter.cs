using System.Threading.Channels;
using Drover.Scheduler.Storage;

namespace Drover.Scheduler.Jobs;

/// <summary>
/// Groups concurrent submissions into one transaction (one fsync for many jobs): each request waits until the
/// transaction holding its job has committed, and only then is answered.
/// </summary>
internal sealed partial class SubmissionWriter(IJobStore store, ILogger<SubmissionWriter> logger) : BackgroundService
{
    private const int MaxBatch = 1000;
    private readonly Channel<Pending> _channel = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });

    public async Task<InsertResult> SubmitAsync(NewJob job, CancellationToken cancellationToken)
    {
        var pending = new Pending(job, new TaskCompletionSource<InsertResult>(TaskCreationOptions.RunContinuationsAsynchronously));
        if (!_channel.Writer.TryWrite(pending))
            throw new InvalidOperationException("the scheduler is shutting down");
        return await pending.Done.Task.WaitAsync(cancellationToken);
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new List<Pending>(MaxBatch);
        try
        {
            while (await _channel.Reader.WaitToReadAsync(stoppingToken))
            {
                while (batch.Count < MaxBatch && _channel.Reader.TryRead(out var next))
                    batch.Add(next);
                try
                {
                    var results = await store.InsertJobsAsync(batch.Select(p => p.Job).ToList(), stoppingToken);
                    for (var i = 0; i < batch.Count; i++)
                        batch[i].Done.TrySetResult(results[i]);
                }
                catch (Exception e)
                {
                    LogBatchFailed(e, batch.Count);
                    foreach (var pending in batch)
                        pending.Done.TrySetException(e);
                }
                batch.Clear();
            }
        }
        finally
        {
            _channel.Writer.TryComplete();
            while (_channel.Reader.TryRead(out var left))
                left.Done.TrySetCanceled(stoppingToken);
        }
    }

    private sealed record Pending(NewJob Job, TaskCompletionSource<InsertResult> Done);

    [LoggerMessage(Level = LogLevel.Error, Message = "Writing {Count} submitted jobs failed; none of them was accepted")]
    private partial void LogBatchFailed(Exception error, int count);
}
