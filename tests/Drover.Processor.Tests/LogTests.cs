using System.Net;
using Drover.Contracts;

namespace Drover.Processor.Tests;

public sealed class LogTests : IAsyncLifetime
{
    private ProcessorHost _host = null!;

    public async Task InitializeAsync() => _host = await ProcessorHost.StartAsync();

    public async Task DisposeAsync() => await _host.DisposeAsync();

    [Fact]
    public async Task The_log_can_be_read_from_a_byte_offset()
    {
        var id = await _host.SubmitAsync("""{"commands": [["echo", "hello world"]]}""");
        await _host.WaitStoppedAsync(id);

        Assert.Equal("world\n", await _host.LogAsync(id, "?offset=6"));
        Assert.Equal("", await _host.LogAsync(id, "?offset=1000"));
        Assert.Equal("hello world\n", await _host.Client.GetStringAsync($"/processor/job/{id}/log?follow=true"));
    }

    [Fact]
    public async Task Follow_streams_lines_as_they_are_written_until_the_job_stops()
    {
        var gate = Path.Combine(ProcessorHost.NewStateDirectory(), "go");
        try
        {
            // The job writes a line, then waits for the test to say go: the first line must arrive while it runs.
            var id = await _host.SubmitAsync($$"""
                {"commands": [{"shell": "echo first; while [ ! -e '{{gate}}' ]; do sleep 0.05; done; echo second"}]}
                """);
            using var request = new HttpRequestMessage(HttpMethod.Get, $"/processor/jobs/{id}/log?follow=true");
            using var response = await _host.Client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

            Assert.Equal("first", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal(JobState.Running, (await _host.StatusAsync(id)).State);

            await File.WriteAllTextAsync(gate, "");
            Assert.Equal("second", await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)));
            Assert.Equal("", await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30))); // the stream ends with the job
            Assert.Equal(JobState.Stopped, (await _host.StatusAsync(id)).State);
        }
        finally
        {
            ProcessorHost.DeleteDirectory(Path.GetDirectoryName(gate)!);
        }
    }

    [Theory]
    [InlineData("?offset=-1", "offset")]
    [InlineData("?offset=abc", "offset")]
    [InlineData("?follow=maybe", "follow")]
    public async Task Bad_log_parameters_are_refused_naming_the_parameter(string query, string field)
    {
        var id = await _host.SubmitAsync("""{"commands": [["true"]]}""");
        using var response = await _host.Client.GetAsync($"/processor/jobs/{id}/log{query}");
        await ProcessorHost.AssertProblemAsync(response, HttpStatusCode.BadRequest, field);
    }
}
