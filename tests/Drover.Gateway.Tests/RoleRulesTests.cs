using Drover.Gateway.Auth;
using Microsoft.AspNetCore.Http;

namespace Drover.Gateway.Tests;

/// <summary>The whole table of who may do what; the HTTP tests show the table is what the gateway enforces.</summary>
public sealed class RoleRulesTests
{
    [Theory]
    // read: GET and HEAD under /scheduler, nothing else but metrics
    [InlineData("read", "GET", "/scheduler/jobs", true)]
    [InlineData("read", "HEAD", "/scheduler/jobs/4/log", true)]
    [InlineData("read", "GET", "/scheduler/nodes", true)]
    [InlineData("read", "POST", "/scheduler/jobs/new", false)]
    [InlineData("read", "DELETE", "/scheduler/queue/4", false)]
    [InlineData("read", "GET", "/processor/info", false)]
    [InlineData("read", "GET", "/nodes/n1/processor/info", false)]
    // ... and every service's metrics: a scraper's key is a read key
    [InlineData("read", "GET", "/metrics", true)]
    [InlineData("read", "GET", "/scheduler/metrics", true)]
    [InlineData("read", "GET", "/processor/metrics", true)]
    [InlineData("read", "GET", "/Nodes/n1/Processor/Metrics", true)]
    [InlineData("read", "POST", "/metrics", false)]
    [InlineData("read", "GET", "/processor/metrics/more", false)]
    [InlineData("read", "GET", "/nodes//processor/metrics", false)]
    [InlineData("read", "GET", "/processor/jobs/metrics", false)]
    [InlineData("job", "GET", "/metrics", false)]
    // submit: read, plus new jobs and DAGs, and update, kill, retry of a job
    [InlineData("submit", "GET", "/scheduler/queue", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/new", true)]
    [InlineData("submit", "POST", "/Scheduler/Jobs/New/", true)]
    [InlineData("submit", "POST", "/scheduler/dags/new", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/batch", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/12/update", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/12/kill", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/12/retry", true)]
    [InlineData("submit", "POST", "/scheduler/jobs/12/kill/more", false)]
    [InlineData("submit", "POST", "/scheduler/jobs/new/kill", false)]
    [InlineData("submit", "POST", "/scheduler/nodes/n1/drain", false)]
    [InlineData("submit", "POST", "/SCHEDULER/NODES/n1/drain", false)]
    [InlineData("submit", "POST", "/scheduler/nodes/heartbeat", false)]
    [InlineData("submit", "DELETE", "/scheduler/queue/4", false)]
    [InlineData("submit", "GET", "/processor/jobs/status", false)]
    [InlineData("submit", "POST", "/nodes/n1/processor/jobs/new", false)]
    // admin: everything
    [InlineData("admin", "POST", "/scheduler/nodes/n1/drain", true)]
    [InlineData("admin", "DELETE", "/scheduler/queue/4", true)]
    [InlineData("admin", "POST", "/processor/jobs/new", true)]
    [InlineData("admin", "GET", "/nodes/n1/processor/jobs/3-1/log", true)]
    // job: submit jobs and DAGs, read jobs, nothing else
    [InlineData("job", "POST", "/scheduler/jobs/new", true)]
    [InlineData("job", "POST", "/scheduler/jobs/batch", true)]
    [InlineData("job", "POST", "/scheduler/dags/new", true)]
    [InlineData("job", "GET", "/scheduler/jobs", true)]
    [InlineData("job", "GET", "/scheduler/jobs/7/status", true)]
    [InlineData("job", "GET", "/scheduler/events", true)]
    [InlineData("job", "GET", "/scheduler/eventsX", false)]
    [InlineData("job", "GET", "/scheduler/jobsX", false)]
    [InlineData("job", "POST", "/scheduler/jobs/7/kill", false)]
    [InlineData("job", "GET", "/scheduler/nodes", false)]
    [InlineData("job", "GET", "/scheduler/queue", false)]
    [InlineData("job", "POST", "/scheduler/nodes/n1/drain", false)]
    [InlineData("job", "GET", "/processor/info", false)]
    // an unknown role may do nothing
    [InlineData("root", "GET", "/scheduler/jobs", false)]
    public void Each_role_may_do_exactly_what_it_should(string role, string method, string path, bool allowed) =>
        Assert.Equal(allowed, GatewayRoles.Allows(role, method, new PathString(path)));
}
