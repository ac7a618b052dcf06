//! The storing step: uploading a job's local outputs to its storage targets, then `succeeded`.
//!
//! Policy: a job whose generation succeeded never loses its outputs to storage. Each upload
//! is retried with backoff while the job is in `storing`; one that still fails is recorded on
//! the output (`uploads[].error`, and an `upload` event), the job ends `succeeded` with its
//! local files, and `genq upload ID` runs the uploads again later.

use super::inner::Inner;
use super::runner::{Runner, Step, Stop};
use crate::config::Config;
use crate::outputs::storage::{KeyContext, StorageTarget};
use crate::providers::InvalidParam;
use crate::store::Transition;
use backon::BackoffBuilder;
use genq_protocol::{Job, JobErrorKind};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Attempts per upload before it is recorded as failed.
const UPLOAD_ATTEMPTS: u32 = 4;

/// The targets a job's outputs go to: its own list when it has one (an empty list means local
/// only), else the configured defaults.
pub(super) fn targets_for(inner: &Inner, job: &Job) -> Vec<String> {
    match &job.params.store {
        Some(list) => list.clone(),
        None => inner.config().default_storage.clone(),
    }
}

/// Refuses a storage target the config does not name; `field` is where it was given.
pub(super) fn check_target(config: &Config, field: String, name: &str) -> Result<(), InvalidParam> {
    if config.storage.contains_key(name) {
        return Ok(());
    }
    let known: Vec<_> = config.storage.keys().cloned().collect();
    Err(InvalidParam::new(
        field,
        format!("no storage target named {name:?} in the config"),
    )
    .allowed(if known.is_empty() {
        "none configured".to_string()
    } else {
        known.join(", ")
    }))
}

impl Runner<'_> {
    /// Uploads the outputs to the job's targets (each upload with its own retries; one that
    /// still fails is recorded, not fatal), then the job has succeeded.
    pub(super) async fn store_outputs(&mut self, job: Job) -> Step<Job> {
        let targets = targets_for(self.inner, &job);
        if !targets.is_empty()
            && upload_outputs(self.inner, &job, &targets, &self.token)
                .await
                .is_err()
        {
            return Err(Stop::Interrupted);
        }
        self.commit(&job, Transition::Succeeded).await
    }
}

/// Why uploads stopped early.
pub(super) struct Interrupted;

/// Uploads every output of `job` that is not yet in each of `targets`, recording each result.
/// Returns early (without recording) only when `token` is cancelled.
pub(super) async fn upload_outputs(
    inner: &Arc<Inner>,
    job: &Job,
    targets: &[String],
    token: &CancellationToken,
) -> Result<(), Interrupted> {
    let config = inner.config();
    for name in targets {
        let target = match (config.storage.get(name), config.storage_keys.get(name)) {
            (Some(section), Some(Ok(keys))) => StorageTarget::from_config(name, section, keys),
            (Some(_), Some(Err(e))) => Err(crate::outputs::storage::StorageError::new(name, e)),
            _ => Err(crate::outputs::storage::StorageError::new(
                name,
                "no such storage target in the config",
            )),
        };
        for out in &job.outputs {
            let done = out
                .uploads
                .iter()
                .any(|u| &u.target == name && u.url.is_some());
            if done {
                continue;
            }
            let Some(path) = out.path.as_deref() else {
                continue;
            };
            let outcome = match &target {
                Ok(t) => upload_one(t, job, out, Path::new(path), token).await?,
                Err(e) => Err(e.to_string()),
            };
            let (url, error) = match outcome {
                Ok(url) => (Some(url), None),
                Err(e) => {
                    let config = inner.config();
                    let e = crate::providers::redact::scrub(&e, &config.secret_values());
                    tracing::warn!(job = %job.id, target = %name, "upload failed: {e}");
                    (None, Some(e))
                }
            };
            if let Err(e) = inner
                .store
                .upload_recorded(job.id.clone(), out.index, name.clone(), url, error)
                .await
            {
                tracing::error!(job = %job.id, "cannot record an upload: {e}");
            }
        }
    }
    Ok(())
}

async fn upload_one(
    target: &StorageTarget,
    job: &Job,
    out: &genq_protocol::Output,
    path: &Path,
    token: &CancellationToken,
) -> Result<Result<String, String>, Interrupted> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("bin")
        .to_string();
    let ctx = KeyContext {
        sha256: out.sha256.clone().unwrap_or_default(),
        job: job.id.clone(),
        index: out.index,
        ext,
        created_at: job.created_at,
        provider: job.provider.clone(),
        mime: out
            .mime
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
    };
    let mut delays = backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(30))
        .without_max_times()
        .build();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = tokio::select! {
            r = target.upload(path, &ctx) => r,
            _ = token.cancelled() => return Err(Interrupted),
        };
        match result {
            Ok(url) => return Ok(Ok(url)),
            Err(e) if e.retryable && attempt < UPLOAD_ATTEMPTS => {
                let d = delays.next().unwrap_or(Duration::from_secs(5));
                tokio::select! {
                    _ = tokio::time::sleep(d) => {}
                    _ = token.cancelled() => return Err(Interrupted),
                }
            }
            Err(e) => {
                debug_assert_eq!(e.kind(), JobErrorKind::Storage);
                return Ok(Err(e.to_string()));
            }
        }
    }
}
