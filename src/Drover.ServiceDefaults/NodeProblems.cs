using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Drover.ServiceDefaults;

/// <summary>
/// The node protocol's problem+json answers (docs/node-protocol.md), each naming the field at fault: the same words
/// from every node written in C# (the Processor, the ECS node service).
/// </summary>
public static class NodeProblems
{
    public static ProblemHttpResult UnknownJob(string requestId) =>
        Problem(StatusCodes.Status404NotFound, "No such job", "request_id", $"this node has no job '{requestId}'");

    public static ProblemHttpResult TooLarge(long limit) =>
        Problem(StatusCodes.Status413PayloadTooLarge, "The request body is too large", "body", $"the body is over this node's limit of {limit} bytes");

    public static ProblemHttpResult SlotsFull(int slots) =>
        Problem(StatusCodes.Status429TooManyRequests, "Every slot of this node is busy", "slots",
            $"all {slots} slots are running jobs; nothing was recorded, place the job elsewhere or later");

    public static ProblemHttpResult UnsupportedMediaType(string why) =>
        Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported content type", "Content-Type", why);

    /// <summary>Writing the job failed: 507 when the disk is full (ENOSPC, EDQUOT), 503 for any other I/O error. Nothing was recorded.</summary>
    public static ProblemHttpResult CannotRecord(IOException error)
    {
        ArgumentNullException.ThrowIfNull(error);
        var full = (error.HResult & 0xFFFF) is NoSpace or QuotaExceeded;
        return Problem(full ? StatusCodes.Status507InsufficientStorage : StatusCodes.Status503ServiceUnavailable,
            full ? "The node's state directory is full" : "The node cannot write its state directory", "state_directory",
            $"the job could not be recorded ({error.Message}); nothing was kept, place the job elsewhere or later");
    }

    private const int NoSpace = 28;        // ENOSPC
    private const int QuotaExceeded = 122; // EDQUOT

    public static ValidationProblem Invalid(Dictionary<string, string[]> errors) =>
        TypedResults.ValidationProblem(errors, title: "The request is not a valid job");

    public static ValidationProblem Invalid(string field, string error) => Invalid(new() { [field] = [error] });

    /// <summary>A problem with <paramref name="status"/> whose <c>errors</c> name <paramref name="field"/>.</summary>
    public static ProblemHttpResult Problem(int status, string title, string field, string error) =>
        TypedResults.Problem(statusCode: status, title: title, detail: error,
            extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [error] } });
}
