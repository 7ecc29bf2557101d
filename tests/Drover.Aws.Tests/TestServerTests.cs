using System.Net;
using System.Net.Http.Headers;
using Amazon.Runtime.Signing;
using Drover.Aws.Http;
using Drover.Aws.Tests.Fake;
using Microsoft.Extensions.DependencyInjection;

namespace Drover.Aws.Tests;

/// <summary>The test server is only worth its passes if it refuses what AWS would refuse.</summary>
public sealed class TestServerTests
{
    private static async Task<(HttpStatusCode Status, string Body)> Post(HttpClient http, FakeAws fake, string target, string json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, fake.Url);
        request.Headers.TryAddWithoutValidation("X-Amz-Target", target);
        request.Content = new StringContent(json);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/x-amz-json-1.1");
        request.Options.Set(new HttpRequestOptionsKey<string>(SigV4SigningHandler.ServiceOptionKey), "ecs");
        request.Options.Set(new HttpRequestOptionsKey<string>(SigV4SigningHandler.RegionOptionKey), FakeAws.Region);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_body_off_the_model_is_refused_naming_each_mistake()
    {
        await using var fake = await FakeAws.StartAsync();
        await using var host = new AwsTestHost(fake);
        var http = host.Services.GetRequiredService<IHttpClientFactory>().CreateClient(AwsHttp.ClientName);

        var (status, body) = await Post(http, fake, "AmazonEC2ContainerServiceV20141113.RunTask",
            """{"cluster": "drover-test", "launchType": "SPACESHIP", "count": "1", "bogus": true}""");

        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Contains("InvalidParameterException", body, StringComparison.Ordinal);
        Assert.Contains("$.launchType", body, StringComparison.Ordinal);
        Assert.Contains("$.count: expected an integer", body, StringComparison.Ordinal);
        Assert.Contains("$.bogus: not a member", body, StringComparison.Ordinal);
        Assert.Contains("$.taskDefinition: required", body, StringComparison.Ordinal);
        Assert.Single(fake.Rejections);
        Assert.Equal(0, fake.TasksCreated);
    }

    [Fact]
    public async Task An_unsigned_request_is_refused()
    {
        await using var fake = await FakeAws.StartAsync();
        using var http = new HttpClient();

        var (status, body) = await Post(http, fake, "AmazonEC2ContainerServiceV20141113.DescribeClusters", """{"clusters": ["drover-test"]}""");

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Contains("InvalidSignatureException", body, StringComparison.Ordinal);
        Assert.Empty(fake.Calls);
    }
}
