using System.Diagnostics.Metrics;
using Drover.Contracts;
using Drover.Processor.Jobs;
using Drover.ServiceDefaults;

namespace Drover.Processor.Metrics;

/// <summary>
/// The Processor's own metrics (meter <c>Drover.Processor</c>): its slots, read when scraped, and the jobs that ended
/// here, counted as each one's stop is published. Accepts and refusals (429) are in the HTTP server's metrics.
/// </summary>
internal sealed class ProcessorMetrics
{
    private readonly Counter<long> _ended;

    public ProcessorMetrics(IMeterFactory meters, SlotGate slots)
    {
        var meter = meters.Create(Telemetry.SourceName("processor"));
        _ended = meter.CreateCounter<long>("drover.processor.jobs.ended", "{job}", "Jobs that stopped on this node, by status and reason");
        meter.CreateObservableGauge("drover.processor.slots", () => slots.Capacity, "{slot}", "Jobs this node runs at once (Processor:Slots)");
        meter.CreateObservableGauge("drover.processor.slots_in_use", () => slots.InUse, "{slot}", "Slots held by jobs recorded or running");
    }

    public void Changed(NodeJobStatus status)
    {
        if (status.State == JobState.Stopped)
            _ended.Add(1, new("status", Wire(status.Status)), new("reason", status.Reason is { } reason ? Wire(reason) : ""));
    }

    private static string Wire<T>(T value) where T : struct, Enum => System.Text.Json.JsonNamingPolicy.SnakeCaseLower.ConvertName(value.ToString());
}
