using System.CommandLine;
using Drover.Cli.Client;
using Drover.Cli.Dev;

// `drover`: run the whole system on one machine, and talk to a running one.
var root = new RootCommand("Drover: a distributed job system.")
{
    DevCommand.Create(),
    WaitCommand.Create(),
};
return await root.Parse(args).InvokeAsync();
