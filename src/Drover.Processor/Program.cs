// Placeholder until the Processor service lands.
return;
