//! One error type for the crate. Every variant knows whether trying again can help, which decides whether
//! an SQS record is handed back for redelivery and what a direct invocation reports.

use crate::names::public_names;

pub type Result<T, E = Error> = std::result::Result<T, E>;

public_names! {
    /// Stable, machine-readable kind of a failure (Lambda's `errorType` is `Retryable.<kind>` or
    /// `NonRetryable.<kind>`; the outcome JSON carries it as `error_kind`).
    pub enum ErrorKind {
        MalformedEvent => "MalformedEvent",
        Config => "Config",
        AwsApi => "AwsApi",
        EksToken => "EksToken",
        Remediation => "Remediation",
        Inconsistent => "Inconsistent",
        Deadline => "Deadline",
        Deferred => "Deferred",
    }
}

#[derive(Debug, Clone, thiserror::Error)]
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

    /// AWS answered, but what it said does not hang together (a subnet outside its VPC, no route table).
    #[error("{0}")]
    Inconsistent(String),

    /// A guard says "not now": delivering the event again later can succeed.
    #[error("deferred by guard {guard}: {detail}")]
    Deferred { guard: &'static str, detail: String },

    /// The work did not finish before the Lambda's deadline (less the reserve kept for reporting).
    #[error("{stage} did not finish before the invocation's deadline")]
    Deadline { stage: &'static str },
}

impl Error {
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::MalformedEvent(_) | Error::Config { .. } => false,
            Error::Aws { retryable, .. } | Error::Remediation { retryable, .. } => *retryable,
            // Credentials come from the Lambda environment and usually recover; so do half-read worlds
            // and slow calls.
            Error::Token(_)
            | Error::Inconsistent(_)
            | Error::Deadline { .. }
            | Error::Deferred { .. } => true,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::MalformedEvent(_) => ErrorKind::MalformedEvent,
            Error::Config { .. } => ErrorKind::Config,
            Error::Aws { .. } => ErrorKind::AwsApi,
            Error::Token(_) => ErrorKind::EksToken,
            Error::Remediation { .. } => ErrorKind::Remediation,
            Error::Inconsistent(_) => ErrorKind::Inconsistent,
            Error::Deadline { .. } => ErrorKind::Deadline,
            Error::Deferred { .. } => ErrorKind::Deferred,
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

/// `Retryable.<kind>` or `NonRetryable.<kind>`, Lambda's `errorType` for a failure.
pub fn error_type(kind: ErrorKind, retryable: bool) -> String {
    let prefix = if retryable {
        "Retryable"
    } else {
        "NonRetryable"
    };
    format!("{prefix}.{kind}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_input_is_never_retried() {
        let e = Error::MalformedEvent("x".into());
        assert!(!e.is_retryable());
        assert_eq!(
            error_type(e.kind(), e.is_retryable()),
            "NonRetryable.MalformedEvent"
        );
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
        assert_eq!(throttled.kind(), ErrorKind::AwsApi);
        assert_eq!(throttled.aws_code(), Some("RequestLimitExceeded"));
        assert_eq!(error_type(throttled.kind(), true), "Retryable.AwsApi");
    }

    #[test]
    fn a_deadline_is_retryable() {
        assert!(Error::Deadline { stage: "snapshot" }.is_retryable());
    }
}
