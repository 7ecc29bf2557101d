using Drover.Processor;

await ProcessorApp.Create(args).RunAsync();
