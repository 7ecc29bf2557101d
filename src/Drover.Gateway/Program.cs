// Placeholder until the Gateway service lands.
return;
