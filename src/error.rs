//! One error type for the crate. Every variant knows whether trying again can help, which decides whether
//! an SQS record is handed back for redelivery and what a direct invocation reports.

use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is not what we accept; retrying the same payload cannot help.
    #[error("malformed event: {0}")]
    MalformedEvent(String),

    #[error("configuration {key}: {message}")]
    Config { key: &'static str, message: String },

    /// An AWS API call failed after the SDK's own retries.
    #[error("AWS {operation} failed ({code}): {message}")]
    Aws {
        operation: &'static str,
        code: String,
        message: String,
        retryable: bool,
    },

    /// Building the EKS bearer token failed (credentials unavailable or signing error).
    #[error("EKS token: {0}")]
    Token(String),

    /// A route or recycle step was started but could not be completed.
    #[error("remediation step {step} failed: {message}")]
    Remediation {
        step: String,
        message: String,
        retryable: bool,
    },
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::MalformedEvent(_) | Error::Config { .. } => false,
            Error::Aws { retryable, .. } | Error::Remediation { retryable, .. } => *retryable,
            // Credentials come from the Lambda environment and usually recover.
            Error::Token(_) => true,
        }
    }

    /// Stable, machine-readable kind for Lambda's `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::MalformedEvent(_) => "MalformedEvent",
            Error::Config { .. } => "Config",
            Error::Aws { .. } => "AwsApi",
            Error::Token(_) => "EksToken",
            Error::Remediation { .. } => "Remediation",
        }
    }

    /// The AWS error code, when this is an AWS error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
}

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

/// Converts an SDK error of any operation into [`Error::Aws`], keeping the whole cause chain in the message.
pub fn aws<E>(
    operation: &'static str,
) -> impl FnOnce(aws_sdk_ec2::error::SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    move |err| {
        use aws_sdk_ec2::error::SdkError;
        let code = err.code().map(str::to_string);
        let status = match &err {
            SdkError::ServiceError(se) => Some(se.raw().status().as_u16()),
            SdkError::ResponseError(re) => Some(re.raw().status().as_u16()),
            _ => None,
        };
        let transport = matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_)
        );
        let retryable = transport
            || status.is_some_and(|s| s >= 500 || s == 429)
            || code
                .as_deref()
                .is_some_and(|c| RETRYABLE_CODES.contains(&c));
        Error::Aws {
            operation,
            code: code.unwrap_or_else(|| match status {
                Some(s) => format!("HTTP {s}"),
                None if transport => "transport".to_string(),
                None => "unknown".to_string(),
            }),
            message: DisplayErrorContext(&err).to_string(),
            retryable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_never_retried() {
        assert!(!Error::MalformedEvent("x".into()).is_retryable());
    }

    #[test]
    fn aws_errors_carry_their_retryability() {
        let throttled = Error::Aws {
            operation: "DescribeRouteTables",
            code: "RequestLimitExceeded".into(),
            message: String::new(),
            retryable: true,
        };
        assert!(throttled.is_retryable());
        assert_eq!(throttled.kind(), "AwsApi");
        assert_eq!(throttled.aws_code(), Some("RequestLimitExceeded"));
    }
}
