// Placeholder until the Scheduler service lands.
return;
