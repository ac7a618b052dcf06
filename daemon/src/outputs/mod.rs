//! Outputs: downloading what a provider produced the moment it is ready, verifying it,
//! keeping it under `outputs/YYYY/MM/<job-id>/` with `params.json` beside it, and uploading
//! it to storage targets ([`storage`]).
//!
//! [`fetch`] is one download attempt; the engine owns retries and the provider's request
//! budget around it. After a restart, [`verify_existing`] tells whether a file already on
//! disk is complete, and [`remove_partials`] clears what a killed download left behind.

mod detect;
mod disk;
mod fetch;
mod fsutil;
mod params;
mod png_text;
pub mod storage;
mod verify;

pub use detect::FileType;
pub use disk::{Usage, delete_job_dir, usage};
pub use fetch::fetch_with_params;
pub use fsutil::{remove_partials, write_atomic};
pub use params::{PARAMS_FILE, params_record, png_params_json, write_params_json};
pub use png_text::{PNG_KEYWORD, read_png_params};
pub use verify::{ExpectedOutput, hash_file, verify_existing};

use crate::config::OutputsSection;
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, JobId, Timestamp};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Limits for one download.
#[derive(Clone, Debug)]
pub struct FetchLimits {
    /// Largest file accepted.
    pub max_bytes: u64,
    /// Whole-download timeout.
    pub timeout: Duration,
}

impl Default for FetchLimits {
    fn default() -> Self {
        FetchLimits {
            max_bytes: 256 * 1024 * 1024,
            timeout: Duration::from_secs(300),
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
        }
    }
}

/// A downloaded, verified output under its final name.
#[derive(Clone, Debug, PartialEq)]
pub struct Fetched {
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub mime: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
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
    /// A download failure not worth another attempt (403, 404, too large, bad URL…).
    pub fn download(message: impl Into<String>) -> Self {
        OutputError {
            kind: JobErrorKind::Download,
            retryable: false,
            local: false,
            message: message.into(),
            status: None,
        }
    }

    /// A local file could not be created, written, synced or renamed.
    pub fn local(message: impl Into<String>) -> Self {
        OutputError {
            kind: JobErrorKind::Download,
            retryable: true,
            local: true,
            message: message.into(),
            status: None,
        }
    }

    /// A network failure, timeout or 5xx: worth another attempt.
    pub fn download_retryable(message: impl Into<String>) -> Self {
        OutputError {
            kind: JobErrorKind::Download,
            retryable: true,
            local: false,
            message: message.into(),
            status: None,
        }
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
        OutputError {
            kind: JobErrorKind::Verify,
            retryable: false,
            local: false,
            message: message.into(),
            status: None,
        }
    }
}

/// The directory of one job's outputs: `outputs/YYYY/MM/<job-id>/`.
pub fn job_dir(root: &Path, id: &JobId, created_at: Timestamp) -> PathBuf {
    let dt = created_at.to_datetime();
    root.join(format!("{:04}", dt.year()))
        .join(format!("{:02}", u8::from(dt.month())))
        .join(id.as_str())
}

/// The output with number `index` already in `dir` (`<index>.<ext>` for any extension genq
/// writes), for resuming after a restart when the record has no path yet.
pub fn find_existing(dir: &Path, index: u32) -> Option<PathBuf> {
    let prefix = format!("{index}.");
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(|ext| FileType::from_ext(ext).is_some())
    })
}

/// Downloads `url` into `dir` as `<index>.<ext>`: streamed to a temporary file in `dir`,
/// hashed while streaming, checked, fsynced and renamed into place. On any failure nothing
/// is left under the final name and the temporary file is removed. The extension follows
/// the bytes received, never the URL or the server's headers.
///
/// Errors have kind `download` (HTTP status, network, size cap, timeout, URL scheme) or
/// `verify` (wrong type, image does not decode, bad GLB); `retryable` is set only for
/// network errors, timeouts, truncated bodies and 408/429/5xx.
///
/// Same as [`fetch_with_params`] without PNG parameters.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    role: OutputRole,
    format_hint: Option<&str>,
    dir: &Path,
    index: u32,
    limits: &FetchLimits,
) -> Result<Fetched, OutputError> {
    fetch_with_params(http, url, role, format_hint, dir, index, limits, None).await
}
