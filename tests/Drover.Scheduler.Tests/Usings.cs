global using Xunit;

// Each test class runs its own scheduler and Processors with real processes: two at a time is what the machine holds.
[assembly: CollectionBehavior(MaxParallelThreads = 2)]
