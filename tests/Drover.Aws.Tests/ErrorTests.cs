using Drover.Aws.Http;

namespace Drover.Aws.Tests;

public sealed class ErrorTests
{
    [Theory]
    [InlineData("""{"__type": "com.amazonaws.ecs#ClusterNotFoundException", "message": "Cluster not found."}""", "ClusterNotFoundException", "Cluster not found.")]
    [InlineData("""{"__type": "AccessDeniedException:http://internal.amazon.com/coral/", "Message": "User is not authorized"}""", "AccessDeniedException", "User is not authorized")]
    [InlineData("""{"Message": "no type"}""", "UnknownError", "no type")]
    [InlineData("not json", "UnknownError", "HTTP 400 Bad Request")]
    public void An_error_answer_is_read_from_its_type_after_the_hash_and_its_message(string body, string type, string message)
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.BadRequest) { ReasonPhrase = "Bad Request" };

        var error = AwsJsonProtocol.ReadError(response, System.Text.Encoding.UTF8.GetBytes(body));

        Assert.Equal(type, error.ErrorType);
        Assert.Equal(message, error.AwsMessage);
    }

    [Fact]
    public void The_type_header_is_used_when_the_body_has_none()
    {
        using var response = new HttpResponseMessage(System.Net.HttpStatusCode.BadRequest);
        response.Headers.TryAddWithoutValidation("x-amzn-ErrorType", "ThrottlingException:http://internal.amazon.com/coral/com.amazon.coral.availability/");

        var error = AwsJsonProtocol.ReadError(response, "{}"u8);

        Assert.Equal("ThrottlingException", error.ErrorType);
        Assert.True(error.IsTransient);
    }
}
