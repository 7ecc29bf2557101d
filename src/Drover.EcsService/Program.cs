using Drover.EcsService;

await EcsNodeApp.Create(args).RunAsync();
