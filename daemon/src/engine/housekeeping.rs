//! Housekeeping: removing finished jobs (with or without their files) and measuring the
//! outputs directory. The store deletes the records; files go afterwards, off the runtime,
//! and only inside the outputs directory.

use super::Engine;
use super::error::EngineError;
use crate::outputs;
use crate::store::{CleanFilter, Removal};
use genq_protocol::methods::{DiskUsage, REMOVED_LIST_MAX, RemoveResult, RemovedJob};

/// Prompt characters kept per listed job, so a long list stays within one frame.
const PROMPT_CHARS: usize = 100;

impl Engine {
    /// `genq rm`: the named jobs, all final, or nothing.
    pub async fn remove_jobs(
        &self,
        ids: Vec<String>,
        with_outputs: bool,
    ) -> Result<RemoveResult, EngineError> {
        let removal = self.inner.store.remove_jobs(ids, with_outputs).await?;
        self.finish_removal(removal, with_outputs, false).await
    }

    /// `genq clean`: the final jobs matching `filter`; with `dry_run` only what would go.
    pub async fn clean_jobs(
        &self,
        filter: CleanFilter,
        with_outputs: bool,
        dry_run: bool,
    ) -> Result<RemoveResult, EngineError> {
        let removal = self
            .inner
            .store
            .clean_jobs(filter, with_outputs, dry_run)
            .await?;
        self.finish_removal(removal, with_outputs, dry_run).await
    }

    /// Deletes (or measures) the removed jobs' directories, then announces the removals.
    async fn finish_removal(
        &self,
        removal: Removal,
        with_outputs: bool,
        dry_run: bool,
    ) -> Result<RemoveResult, EngineError> {
        let root = self.inner.paths.outputs.clone();
        let dirs: Vec<_> = removal
            .jobs
            .iter()
            .map(|j| outputs::job_dir(&root, &j.id, j.created_at))
            .collect();
        let (freed_bytes, errors) = if with_outputs {
            let dirs = dirs.clone();
            tokio::task::spawn_blocking(move || {
                let mut freed = 0;
                let mut errors = Vec::new();
                for dir in &dirs {
                    match outputs::delete_job_dir(&root, dir, dry_run) {
                        Ok(held) => freed += held.bytes,
                        Err(e) => errors.push(e),
                    }
                }
                (freed, errors)
            })
            .await
            .map_err(|e| EngineError::Disk(format!("deleting output files stopped: {e}")))?
        } else {
            (0, Vec::new())
        };
        let count = removal.jobs.len() as u64;
        let jobs = removal
            .jobs
            .into_iter()
            .zip(dirs)
            .take(REMOVED_LIST_MAX)
            .map(|(job, dir)| RemovedJob {
                prompt: job.prompt().chars().take(PROMPT_CHARS).collect(),
                id: job.id,
                num: job.num,
                state: job.state,
                provider: job.provider,
                model: job.model,
                created_at: job.created_at,
                output_dir: with_outputs.then(|| dir.display().to_string()),
            })
            .collect();
        Ok(RemoveResult {
            count,
            jobs,
            freed_bytes,
            dry_run,
            errors,
        })
    }

    /// How much the outputs directory takes, walked on a blocking thread.
    pub async fn outputs_usage(&self) -> Result<DiskUsage, EngineError> {
        let root = self.inner.paths.outputs.clone();
        let path = root.display().to_string();
        let usage = tokio::task::spawn_blocking(move || outputs::usage(&root))
            .await
            .map_err(|e| EngineError::Disk(format!("measuring {path} stopped: {e}")))?
            .map_err(|e| EngineError::Disk(format!("cannot read {path}: {e}")))?;
        Ok(DiskUsage {
            path,
            bytes: usage.bytes,
            files: usage.files,
            job_dirs: usage.job_dirs,
        })
    }
}
