using System.CommandLine;
using System.Globalization;
using Drover.Cli.Terminal;
using Drover.Contracts;
using Spectre.Console;

namespace Drover.Cli.Nodes;

/// <summary><c>drover nodes</c>, <c>drain NAME</c>, <c>undrain NAME</c>.</summary>
internal static class NodeCommands
{
    public static Command Nodes()
    {
        var available = new Option<bool>("--available") { Description = "Only the nodes a job can go to now (up, not drained, with a free slot)." };
        var command = new Command("nodes", "The nodes, with their health, load, labels and last error.") { available };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var list = await context.Api.GetNodesAsync(context.Get(available), cancellationToken);
            if (context.Output.Json)
            {
                Output.WriteJson(list);
                return ExitCodes.Ok;
            }
            var table = Output.Table("NAME", "HEALTH", "DRAINED", "RUNNING", "SLOTS", "LABELS", "URI", "SOURCE", "LAST ERROR");
            foreach (var node in list.Nodes)
                table.AddRow(Output.Cell(node.Name),
                    new Text(Words.Of(node.Health), new Style(node.Health == NodeHealth.Up ? Color.Green : Color.Red)),
                    Output.Cell(node.Drained ? "drained" : ""),
                    Output.Cell(node.Running.ToString(CultureInfo.InvariantCulture)),
                    Output.Cell(node.Slots == 0 ? "-" : node.Slots.ToString(CultureInfo.InvariantCulture)),
                    Output.Cell(string.Join(',', node.Labels.Select(l => $"{l.Key}={l.Value}"))),
                    Output.Cell(node.Uri), Output.Cell(node.Source), Output.Cell(node.LastError));
            context.Output.Write(table);
            return ExitCodes.Ok;
        });
        return command;
    }

    public static Command Drain(bool drain)
    {
        var name = new Argument<string>("name") { Description = "The node's name (drover nodes lists them)." };
        var command = new Command(drain ? "drain" : "undrain",
            drain ? "Place no new jobs on a node; those it runs carry on." : "Let a drained node take new jobs again.") { name };
        command.SetApiAction(async (context, cancellationToken) =>
        {
            var node = await context.Api.SetDrainedAsync(context.Get(name)!, drain, cancellationToken);
            if (context.Output.Json)
                Output.WriteJson(node);
            else
                Output.Line(string.Create(CultureInfo.InvariantCulture,
                    $"{node.Name}: {(node.Drained ? "drained" : "takes jobs")} ({node.Running} running)"));
            return ExitCodes.Ok;
        });
        return command;
    }
}
