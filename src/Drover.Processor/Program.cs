using Drover.Processor;
using Drover.Processor.Jobs;

// The node's supervisor is this same executable in another mode, told apart before any host is built: it stays small.
if (args is [Supervisor.Mode, var socketPath])
    return Supervisor.Run(socketPath);

await ProcessorApp.Create(args).RunAsync();
return 0;
