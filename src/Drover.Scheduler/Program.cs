using Drover.Scheduler;

await SchedulerApp.Create(args).RunAsync();
