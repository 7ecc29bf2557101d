using Drover.Contracts;
using Drover.Scheduler.Nodes;
using Drover.Scheduler.Placement;

namespace Drover.Scheduler.Tests;

/// <summary>The placement pass's choice of node: least loaded first, constraints honoured, full nodes left out.</summary>
public sealed class NodePickerTests
{
    [Fact]
    public void Jobs_go_to_the_least_loaded_share_of_slots_then_the_fewest_jobs_then_by_name()
    {
        // a: 1 of 2 slots taken; b: 0 of 2; c: counts no slots (takes what it takes).
        var picker = new NodePicker([Node("a", 2), Node("b", 2), Node("c", 0)], Load(("a", 1)));

        var order = Enumerable.Range(0, 6).Select(_ => picker.Take(null)?.Name).ToList();

        // b and c are empty (b first by name); then a and b at half (a by name); a and b are then full and c takes the rest.
        Assert.Equal(["b", "c", "a", "b", "c", "c"], order);
        Assert.False(picker.Full);
        Assert.Null(picker.FreeSlots);
    }

    [Fact]
    public void A_constrained_job_taking_a_slot_out_of_turn_is_counted_for_the_jobs_after_it()
    {
        var gpu = new Dictionary<string, string> { ["gpu"] = "1" };
        var picker = new NodePicker([Node("x", 2, gpu), Node("y", 2)], Load());
        Assert.Equal(4, picker.FreeSlots);

        Assert.Equal("x", picker.Take(new JobConstraints { Labels = gpu })?.Name);
        Assert.Equal("y", picker.Take(null)?.Name); // x is busier now, though it was first in line before
        Assert.Equal("x", picker.Take(null)?.Name);
        Assert.Null(picker.Take(new JobConstraints { Labels = gpu })); // x is full
        Assert.Null(picker.Take(new JobConstraints { Node = "nowhere" }));
        Assert.Equal("y", picker.Take(null)?.Name);
        Assert.True(picker.Full);
        Assert.Null(picker.Take(null));
    }

    private static Dictionary<string, int> Load(params (string Node, int Jobs)[] load) =>
        load.ToDictionary(l => l.Node, l => l.Jobs, StringComparer.Ordinal);

    private static NodeSnapshot Node(string name, int slots, Dictionary<string, string>? labels = null) =>
        new(name, new NodeTarget(name, new Uri($"http://127.0.0.1/{name}"), null), "static",
            new NodeInfo { Name = name, Slots = slots }, labels ?? [], Drained: false, Down: false, DateTimeOffset.UnixEpoch, null, null);
}
