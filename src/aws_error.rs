//! SDK errors into [`Error::Aws`], deciding retryability from the error code, the HTTP status and the
//! transport failure kind.

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::Error;

pub type SdkError<E> = aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>;

/// Error codes that mean "try again later" across the AWS query and JSON protocols.
const RETRYABLE_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "Unavailable",
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServerException",
    "RequestTimeout",
    "RequestTimeoutException",
    "PriorRequestNotComplete",
    "IncorrectState",
];

/// The error code of a service error (`InvalidInstanceID.NotFound`, …), if AWS sent one.
pub fn code<E: ProvideErrorMetadata>(err: &SdkError<E>) -> Option<&str> {
    err.code()
}

fn status<E>(err: &SdkError<E>) -> Option<u16> {
    match err {
        SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
        SdkError::ResponseError(re) => Some(re.raw().status().as_u16()),
        _ => None,
    }
}

/// Converts an SDK error of any operation into [`Error::Aws`], keeping the whole cause chain.
pub fn aws<E>(operation: &'static str) -> impl FnOnce(SdkError<E>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| {
        let code = err.code().map(str::to_string);
        let status = status(&err);
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let retryable = transport
            || status.is_some_and(|s| s >= 500 || s == 429)
            || code
                .as_deref()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c));
        let code = code.unwrap_or_else(|| match status {
            Some(s) => format!("HTTP {s}"),
            None if transport => "transport".to_string(),
            None => "unknown".to_string(),
        });
        Error::Aws {
            operation,
            code,
            message: DisplayErrorContext(&err).to_string(),
            retryable,
        }
    }
}
