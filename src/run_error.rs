//! How an attempt failed, and whether trying again could help.

use std::time::Duration;

use crate::connectors::secret::scrub_owned;

/// A failed attempt. The message is stored in the run row and shown on the site, so it must
/// say what to do and must never contain a secret.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct RunError {
    pub message: String,
    /// Network failures, timeouts, HTTP 429 and 5xx: worth another attempt.
    pub retryable: bool,
    /// The server's `Retry-After`, when it sent one.
    pub retry_after: Option<Duration>,
}

impl RunError {
    /// An error that another attempt will not fix (bad request, missing model, bad answer).
    /// Like every constructor, it scrubs known secrets from the message: servers echo them.
    pub fn permanent(message: impl Into<String>) -> Self {
        RunError {
            message: scrub_owned(message.into()),
            retryable: false,
            retry_after: None,
        }
    }

    /// The server's `Retry-After`, for a retryable error.
    pub fn with_retry_after(self, retry_after: Option<Duration>) -> Self {
        RunError {
            retry_after,
            ..self
        }
    }

    /// An error another attempt may not hit (network, overload).
    pub fn retryable(message: impl Into<String>) -> Self {
        RunError {
            message: scrub_owned(message.into()),
            retryable: true,
            retry_after: None,
        }
    }
}
