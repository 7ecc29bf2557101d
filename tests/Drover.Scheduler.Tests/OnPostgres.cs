namespace Drover.Scheduler.Tests;

// The same tests over PostgreSQL: each class runs every test of the SQLite class it derives from.

public sealed class AccessTestsOnPostgres : AccessTests
{
    protected override bool OnPostgres => true;
}

public sealed class DagChildrenTestsOnPostgres : DagChildrenTests
{
    protected override bool OnPostgres => true;
}

public sealed class DagTestsOnPostgres : DagTests
{
    protected override bool OnPostgres => true;
}

public sealed class DagBadInputTestsOnPostgres : DagBadInputTests
{
    protected override bool OnPostgres => true;
}

public sealed class DagScaleTestsOnPostgres : DagScaleTests
{
    protected override bool OnPostgres => true;
}

public sealed class DagWakeTestsOnPostgres : DagWakeTests
{
    protected override bool OnPostgres => true;
}

public sealed class EventsTestsOnPostgres : EventsTests
{
    protected override bool OnPostgres => true;
}

public sealed class IdempotencyTestsOnPostgres : IdempotencyTests
{
    protected override bool OnPostgres => true;
}

public sealed class KillTestsOnPostgres : KillTests
{
    protected override bool OnPostgres => true;
}

public sealed class ListFilterTestsOnPostgres : ListFilterTests
{
    protected override bool OnPostgres => true;
}

public sealed class LogFollowTestsOnPostgres : LogFollowTests
{
    protected override bool OnPostgres => true;
}

public sealed class NodeTestsOnPostgres : NodeTests
{
    protected override bool OnPostgres => true;
}

public sealed class PlacementTestsOnPostgres : PlacementTests
{
    protected override bool OnPostgres => true;
}

public sealed class RecoveryTestsOnPostgres : RecoveryTests
{
    protected override bool OnPostgres => true;
}

public sealed class RestartTestsOnPostgres : RestartTests
{
    protected override bool OnPostgres => true;
}

public sealed class RetryTestsOnPostgres : RetryTests
{
    protected override bool OnPostgres => true;
}

public sealed class NodeExpiryTestsOnPostgres : NodeExpiryTests
{
    protected override bool OnPostgres => true;
}

public sealed class MissingUploadTestsOnPostgres : MissingUploadTests
{
    protected override bool OnPostgres => true;
}

public sealed class StreamLimitTestsOnPostgres : StreamLimitTests
{
    protected override bool OnPostgres => true;
}

public sealed class ForeignDependencyTestsOnPostgres : ForeignDependencyTests
{
    protected override bool OnPostgres => true;
}

public sealed class SeedScriptTestsOnPostgres : SeedScriptTests
{
    protected override bool OnPostgres => true;
}

public sealed class QueueOrderTestsOnPostgres : QueueOrderTests
{
    protected override bool OnPostgres => true;
}
