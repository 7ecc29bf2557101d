using System.CommandLine;
using Drover.Cli.Dags;
using Drover.Cli.Dev;
using Drover.Cli.Events;
using Drover.Cli.Jobs;
using Drover.Cli.Nodes;
using Drover.Cli.Queue;
using Drover.Cli.Terminal;

// `drover`: talk to a running Drover (--url/DROVER_URL, --token/DROVER_TOKEN), or run the whole system on one machine.
var root = new RootCommand("drover: submit, follow and manage the jobs of a Drover system.")
{
    GlobalOptions.Url, GlobalOptions.Token, GlobalOptions.Json,
    // Jobs
    SubmitCommand.Create(),
    JobCommands.Jobs(),
    JobCommands.Status(),
    JobCommands.Show(),
    JobCommands.Logs(),
    JobCommands.Kill(),
    JobCommands.Retry(),
    WaitCommand.Create(),
    // DAGs, the queue, nodes, events
    DagCommand.Create(),
    QueueCommand.Create(),
    QueueCommand.Cancel(),
    NodeCommands.Nodes(),
    NodeCommands.Drain(drain: true),
    NodeCommands.Drain(drain: false),
    EventsCommand.Create(),
    // This machine
    DevCommand.Create(),
    CompletionCommand.Create(),
};
var parse = root.Parse(args);
if (parse.Action is System.CommandLine.Invocation.ParseErrorAction onError)
    onError.ShowHelp = false; // the error and its typo hint, not a page of help
var code = await parse.InvokeAsync();
// A wrong command line exits 2, as the shell's own tools do; System.CommandLine says 1.
return parse.Errors.Count > 0 ? ExitCodes.Usage : code;
