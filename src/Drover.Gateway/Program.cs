using Drover.Gateway;

await GatewayApp.Create(args).RunAsync();
