//! One download: the limits it runs within, the file it yields, and how it fails.

use super::detect::FileType;
use crate::config::OutputsSection;
use crate::store::OutputFile;
use genq_protocol::JobErrorKind;
use std::path::PathBuf;
use std::time::Duration;

/// Limits for one download.
#[derive(Clone, Debug)]
pub struct FetchLimits {
    /// Largest file accepted.
    pub max_bytes: u64,
    /// Whole-download timeout.
    pub timeout: Duration,
    /// The spool directory: `file://` URLs inside it are results an adaptor received inside
    /// a reply; every other `file://` URL is refused.
    pub spool: Option<std::path::PathBuf>,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_bytes: 256 * 1024 * 1024,
            timeout: Duration::from_secs(300),
            spool: None,
        }
    }
}

impl FetchLimits {
    /// Limits from `[outputs]`, defaults for what is unset.
    pub fn from_config(section: &OutputsSection) -> Self {
        let d = FetchLimits::default();
        FetchLimits {
            max_bytes: section.max_bytes.unwrap_or(d.max_bytes),
            timeout: section
                .download_timeout_s
                .map(Duration::from_secs)
                .unwrap_or(d.timeout),
            spool: None,
        }
    }
}

/// The record of a checked file of type `t` at `path`.
pub(super) fn output_file(
    path: PathBuf,
    sha256: String,
    size: u64,
    t: FileType,
    dims: Option<(u32, u32)>,
) -> OutputFile {
    OutputFile {
        path,
        sha256,
        size,
        mime: t.mime().into(),
        dims,
    }
}

/// Why a download failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct OutputError {
    /// `download` or `verify`.
    pub kind: JobErrorKind,
    /// A network error or 5xx worth another attempt.
    pub retryable: bool,
    /// A local file error (a full disk, too many open files): the download itself was
    /// fine, so it is tried again for as long as it takes, never counted as a failure.
    pub local: bool,
    pub message: String,
    /// The HTTP status the server answered with, when it answered with an error status.
    pub status: Option<u16>,
}

impl OutputError {
    fn new(kind: JobErrorKind, retryable: bool, local: bool, message: impl Into<String>) -> Self {
        OutputError {
            kind,
            retryable,
            local,
            message: message.into(),
            status: None,
        }
    }

    /// A download failure not worth another attempt (403, 404, too large, bad URL…).
    pub fn download(message: impl Into<String>) -> Self {
        OutputError::new(JobErrorKind::Download, false, false, message)
    }

    /// A local file could not be created, written, synced or renamed.
    pub fn local(message: impl Into<String>) -> Self {
        OutputError::new(JobErrorKind::Download, true, true, message)
    }

    /// A network failure, timeout or 5xx: worth another attempt.
    pub fn download_retryable(message: impl Into<String>) -> Self {
        OutputError::new(JobErrorKind::Download, true, false, message)
    }

    /// The same error, recording the HTTP status that caused it.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// The server refused the link (401/403): a signed URL that expired, usually. Asking the
    /// provider again may give a fresh one.
    pub fn link_refused(&self) -> bool {
        matches!(self.status, Some(401 | 403))
    }

    /// The bytes arrived but are not what was expected.
    pub fn verify(message: impl Into<String>) -> Self {
        OutputError::new(JobErrorKind::Verify, false, false, message)
    }
}
