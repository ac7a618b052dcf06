//! Outputs: downloading what a provider produced the moment it is ready, verifying it,
//! keeping it under `outputs/YYYY/MM/<job-id>/`, and (later) uploading it to storage targets.
//!
//! [`fetch`] is one download attempt; the engine owns retries and the provider's request
//! budget around it.

use crate::providers::OutputRole;
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
    pub message: String,
}

/// The directory of one job's outputs: `outputs/YYYY/MM/<job-id>/`.
pub fn job_dir(root: &Path, id: &JobId, created_at: Timestamp) -> PathBuf {
    let dt = created_at.to_datetime();
    root.join(format!("{:04}", dt.year()))
        .join(format!("{:02}", u8::from(dt.month())))
        .join(id.as_str())
}

/// Downloads `url` into `dir` as `<index>.<ext>`: streamed to a temporary file in `dir`,
/// hashed while streaming, checked, fsynced and renamed into place. On any failure nothing
/// is left under the final name.
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    role: OutputRole,
    format_hint: Option<&str>,
    dir: &Path,
    index: u32,
    limits: &FetchLimits,
) -> Result<Fetched, OutputError> {
    let _ = (http, url, role, format_hint, dir, index, limits);
    Err(OutputError {
        kind: JobErrorKind::Download,
        retryable: false,
        message: "downloads are not implemented yet".into(),
    })
}
