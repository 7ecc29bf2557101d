global using Xunit;

// One system of separate processes serves every scenario, one scenario at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
