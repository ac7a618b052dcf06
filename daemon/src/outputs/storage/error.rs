//! How an upload fails.

use genq_protocol::JobErrorKind;

/// A failed upload or a target that cannot be built. The message names the target and
/// never contains credentials.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("storage target {target}: {message}")]
pub struct StorageError {
    pub target: String,
    /// Worth another attempt later (network, 5xx, throttling).
    pub retryable: bool,
    pub message: String,
}

impl StorageError {
    pub fn new(target: &str, message: impl Into<String>) -> Self {
        StorageError {
            target: target.to_string(),
            retryable: false,
            message: message.into(),
        }
    }

    /// Always `storage`.
    pub fn kind(&self) -> JobErrorKind {
        JobErrorKind::Storage
    }
}
