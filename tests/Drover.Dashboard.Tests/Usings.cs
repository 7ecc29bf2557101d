global using Drover.Gateway.Tests;
global using Microsoft.Playwright;
global using Xunit;
global using Xunit.Abstractions;

// One browser drives one system at a time: timings (the 10,000-job DAG's draw) mean nothing on a machine that also runs another browser.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
