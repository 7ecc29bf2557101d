using Drover.Gateway.Limits;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Drover.Gateway.Proxy;

/// <summary>YARP sets a status code when forwarding fails but writes no body; this writes the problem+json.</summary>
internal static class ForwarderProblems
{
    public static Task WriteAsync(HttpContext context)
    {
        var failure = context.GetForwarderErrorFeature();
        if (failure is null || failure.Error == ForwarderError.None || context.Response.HasStarted || context.RequestAborted.IsCancellationRequested)
            return Task.CompletedTask;
        var status = context.Response.StatusCode >= 400 ? context.Response.StatusCode : StatusCodes.Status502BadGateway;
        if (status == StatusCodes.Status413PayloadTooLarge)
            return RequestGuards.TooLarge(context, context.RequestServices.GetRequiredService<IOptions<GatewayOptions>>().Value.MaxRequestBodySize);
        var (title, detail) = failure.Error switch
        {
            ForwarderError.NoAvailableDestinations => ("Service unavailable",
                "No healthy instance of the service behind this route answers its health check."),
            ForwarderError.RequestTimedOut => ("Gateway timeout", "The service behind this route did not answer in time."),
            ForwarderError.Request => ("Bad gateway", "The service behind this route cannot be reached."),
            ForwarderError.RequestBodyClient => ("Bad request", "The request body could not be read from the client."),
            _ => ("Bad gateway", $"Forwarding to the service behind this route failed ({failure.Error})."),
        };
        return Results.Problem(statusCode: status, title: title, detail: detail).ExecuteAsync(context);
    }
}
