//! Planning a batch: read the file, expand it, put every job through the engine's checks,
//! find rows a succeeded job already ran with the same parameters, and estimate the calls.

use super::expand::{Expanded, Overrides, expand};
use super::format::{self, problem};
use crate::engine::{Engine, EngineError};
use futures::StreamExt;
use genq_protocol::batch::{
    BatchFormat, BatchSubmitParams, PlannedJob, ProviderEstimate, RowProblem,
};
use genq_protocol::{JobId, JobSpec};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Rows checked at once.
const CHECKS_IN_FLIGHT: usize = 8;

/// Largest batch file read, in bytes.
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// A request that cannot be planned at all (no file, no format): the field and why.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub struct BadRequest {
    pub field: String,
    pub message: String,
}

fn bad(field: &str, message: impl Into<String>) -> BadRequest {
    BadRequest {
        field: field.into(),
        message: message.into(),
    }
}

/// A planned batch: its jobs with their parameter hashes, and the bad rows.
#[derive(Debug)]
pub struct Planned {
    pub name: String,
    pub base_dir: PathBuf,
    pub jobs: Vec<PlannedJob>,
    pub hashes: Vec<String>,
    pub invalid: Vec<RowProblem>,
}

/// The file's name and text, from the request.
async fn source(p: &BatchSubmitParams) -> Result<(String, String), BadRequest> {
    match (&p.path, &p.text) {
        (Some(path), None) => {
            let path = Path::new(path);
            if !path.is_absolute() {
                return Err(bad("path", "must be absolute"));
            }
            let meta = tokio::fs::metadata(path)
                .await
                .map_err(|e| bad("path", format!("cannot read {}: {e}", path.display())))?;
            if meta.len() > MAX_FILE_BYTES {
                return Err(bad(
                    "path",
                    format!("{} is over {MAX_FILE_BYTES} bytes", path.display()),
                ));
            }
            let text = tokio::fs::read_to_string(path)
                .await
                .map_err(|e| bad("path", format!("cannot read {}: {e}", path.display())))?;
            let name = p.name.clone().unwrap_or_else(|| {
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "batch".into())
            });
            Ok((name, text))
        }
        (None, Some(text)) => Ok((
            p.name.clone().unwrap_or_else(|| "batch".into()),
            text.clone(),
        )),
        _ => Err(bad("path", "give the batch file as either path or text")),
    }
}

/// The hash of a job's parameters, to find a row run before with exactly these.
pub fn spec_hash(spec: &JobSpec) -> String {
    sha256_hex(serde_json::to_string(spec).unwrap_or_default().as_bytes())
}

/// SHA-256 in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Reads, expands and checks a batch; nothing is created.
pub async fn plan(
    engine: &Engine,
    p: &BatchSubmitParams,
    default_dir: &Path,
) -> Result<Planned, BadRequest> {
    let (name, text) = source(p).await?;
    let format = p
        .format
        .or_else(|| BatchFormat::from_name(&name))
        .ok_or_else(|| {
            bad(
                "format",
                format!("cannot tell the format of {name:?}; allowed: jsonl, csv, toml"),
            )
        })?;
    let base_dir = match &p.base_dir {
        Some(d) if Path::new(d).is_absolute() => PathBuf::from(d),
        Some(_) => return Err(bad("base_dir", "must be absolute")),
        None => p
            .path
            .as_deref()
            .and_then(|f| Path::new(f).parent())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| default_dir.to_path_buf()),
    };
    let over = Overrides {
        defaults: p.defaults.clone(),
        vary: p.vary.clone(),
        style: p.style.clone(),
    };
    let file = format::read(format, &text);
    let config = engine.config();
    let (expanded, mut invalid) = expand(file, &over, &config.styles, &base_dir);
    let mut jobs = Vec::with_capacity(expanded.len());
    let mut hashes = Vec::with_capacity(expanded.len());
    // A few checks in flight keep the store busy between round trips; order is kept.
    let mut checked = futures::stream::iter(expanded)
        .map(|job| async move {
            let verdict = engine.check(job.spec.clone()).await;
            (job, verdict)
        })
        .buffered(CHECKS_IN_FLIGHT);
    while let Some((job, verdict)) = checked.next().await {
        let Expanded {
            index,
            row,
            spec,
            output,
        } = job;
        if let Err(e) = verdict {
            invalid.push(engine_problem(row, e));
            continue;
        }
        hashes.push(spec_hash(&spec));
        jobs.push(PlannedJob {
            index,
            row,
            spec,
            output,
            reuses: None,
        });
    }
    invalid.sort_by_key(|p| p.row);
    Ok(Planned {
        name,
        base_dir,
        jobs,
        hashes,
        invalid,
    })
}

/// An engine refusal as a row's problem, naming the spec field.
fn engine_problem(row: u64, e: EngineError) -> RowProblem {
    match e {
        EngineError::Invalid(p) => {
            let allowed = p
                .allowed
                .map(|a| format!(" (allowed: {a})"))
                .unwrap_or_default();
            problem(row, &p.field, format!("{}{allowed}", p.message))
        }
        EngineError::UnknownProvider { name, known } => problem(
            row,
            "provider",
            format!("unknown provider {name:?}; known: {known}"),
        ),
        EngineError::MissingKey { message, .. } => problem(row, "provider", message),
        other => problem(row, "row", other.to_string()),
    }
}

/// Marks the jobs a succeeded job already ran with the same parameters.
pub fn mark_reused(jobs: &mut [PlannedJob], found: Vec<Option<JobId>>) {
    for (job, found) in jobs.iter_mut().zip(found) {
        job.reuses = found;
    }
}

/// Calls and outputs per provider for the jobs that would be sent, with the quota the
/// provider last reported.
pub fn estimate(engine: &Engine, jobs: &[PlannedJob]) -> Vec<ProviderEstimate> {
    let mut per: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for job in jobs.iter().filter(|j| j.reuses.is_none()) {
        let e = per.entry(job.spec.provider.clone()).or_default();
        e.0 += 1;
        e.1 += u64::from(job.spec.n.unwrap_or(1));
    }
    per.into_iter()
        .map(|(provider, (calls, outputs))| {
            let quota = engine
                .registry()
                .get(&provider)
                .and_then(|p| p.last_quota());
            ProviderEstimate {
                provider,
                calls,
                outputs,
                quota_remaining: quota.as_ref().and_then(|q| q.remaining),
                quota_detail: quota.and_then(|q| q.detail),
            }
        })
        .collect()
}
