using System.Net;

namespace Drover.Aws.Http;

/// <summary>
/// An error answer from an AWS service: <see cref="ErrorType"/> is the part of <c>__type</c> after <c>#</c>
/// (<c>ClusterNotFoundException</c>, <c>AccessDeniedException</c>, ...), <see cref="Message"/> its <c>message</c>.
/// </summary>
public sealed class AwsServiceException : Exception
{
    public AwsServiceException(string errorType, string message, HttpStatusCode statusCode)
        : base($"{errorType}: {message}")
    {
        ErrorType = errorType;
        AwsMessage = message;
        StatusCode = statusCode;
    }

    public AwsServiceException()
        : this("Unknown", "", HttpStatusCode.InternalServerError)
    {
    }

    public AwsServiceException(string message)
        : this("Unknown", message, HttpStatusCode.InternalServerError)
    {
    }

    public AwsServiceException(string message, Exception innerException)
        : base(message, innerException)
    {
        ErrorType = "Unknown";
        AwsMessage = message;
        StatusCode = HttpStatusCode.InternalServerError;
    }

    public string ErrorType { get; }
    public string AwsMessage { get; }
    public HttpStatusCode StatusCode { get; }

    /// <summary>Throttled, timed out or a server error: the call may have been carried out, and may work when tried again.</summary>
    public bool IsTransient => IsThrottling(ErrorType) || StatusCode == HttpStatusCode.RequestTimeout || StatusCode >= HttpStatusCode.InternalServerError;

    /// <summary>Error types that mean "too fast, try again later" rather than "wrong".</summary>
    public static bool IsThrottling(string errorType) => errorType is
        "ThrottlingException" or "Throttling" or "ThrottledException" or "RequestLimitExceeded"
        or "TooManyRequestsException" or "RequestThrottled" or "RequestThrottledException";
}
