//! `Batches`: creates batches and sends their rows as ordinary jobs through the engine's
//! submit, one sender per batch, each row under the idempotency key
//! `batch-<id>-<index>-<attempt>`: a row whose job id was not recorded yet (a crash, a stop)
//! is sent again under the same key and gets the job made before. Cancel and retry act on
//! every row of a batch.

use super::follow;
use super::plan::{self, BadRequest};
use crate::engine::{Engine, EngineError};
use crate::store::{BatchCreated, NewBatch, NewBatchRow, PendingRow, StoreError};
use futures::StreamExt;
use genq_protocol::JobId;
use genq_protocol::batch::{BatchInfo, BatchPlan, BatchSubmitParams};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Rows read from the store at a time by a sender.
const SEND_CHUNK: u32 = 64;
/// Rows of a chunk sent at once.
const SENDS_IN_FLIGHT: usize = 4;

/// Where a batch came from.
#[derive(Clone, Debug)]
pub struct Origin {
    /// `cli` or `inbox`.
    pub source: &'static str,
    /// The same key never makes a second batch (an inbox file seen again after a crash).
    pub key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    BadRequest(#[from] BadRequest),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Engine(#[from] EngineError),
}

#[derive(Clone)]
pub struct Batches {
    engine: Engine,
    /// Batches with a sender running.
    senders: Arc<Mutex<HashSet<u64>>>,
}

impl Batches {
    pub fn new(engine: Engine) -> Batches {
        Batches {
            engine,
            senders: Arc::new(Mutex::new(HashSet::new())),
        }
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Plans a batch and, unless it is a dry run or bad rows stop it, creates it and starts
    /// sending its rows.
    pub async fn submit(
        &self,
        p: BatchSubmitParams,
        origin: Origin,
    ) -> Result<BatchPlan, BatchError> {
        let data_dir = self
            .engine
            .paths()
            .outputs
            .parent()
            .map(|d| d.join("batches"));
        let default_dir = data_dir.unwrap_or_else(|| self.engine.paths().outputs.clone());
        let mut planned = plan::plan(&self.engine, &p, &default_dir).await?;
        if !p.force {
            let found = self
                .engine
                .store()
                .succeeded_with(planned.hashes.clone())
                .await?;
            plan::mark_reused(&mut planned.jobs, found);
        }
        let estimate = plan::estimate(&self.engine, &planned.jobs);
        let reused = planned.jobs.iter().filter(|j| j.reuses.is_some()).count() as u64;
        let stopped = !planned.invalid.is_empty() && !p.skip_invalid;
        if p.dry_run || stopped || planned.jobs.is_empty() {
            return Ok(BatchPlan {
                batch: None,
                jobs: planned.jobs,
                reused,
                invalid: planned.invalid,
                estimate,
            });
        }
        let rows = planned
            .jobs
            .iter()
            .zip(&planned.hashes)
            .map(|(job, hash)| NewBatchRow {
                job: job.clone(),
                spec_hash: hash.clone(),
            })
            .collect();
        let new = NewBatch {
            name: planned.name,
            source: origin.source.to_string(),
            source_key: origin.key,
            base_dir: Some(planned.base_dir.display().to_string()),
            rows,
        };
        let info = match self.engine.store().create_batch(new).await? {
            BatchCreated::New(info) | BatchCreated::Existing(info) => info,
        };
        self.start_sender(info.id);
        follow::settle(&self.engine, info.id).await;
        Ok(BatchPlan {
            batch: Some(self.engine.store().batch_info(info.id).await?),
            jobs: Vec::new(),
            reused,
            invalid: planned.invalid,
            estimate,
        })
    }

    /// Stops sending the batch's rows and cancels its unfinished jobs.
    pub async fn cancel(&self, id: u64) -> Result<BatchInfo, BatchError> {
        let jobs = self.engine.store().cancel_batch(id).await?;
        for job in jobs {
            match self.engine.cancel(job.0).await {
                Ok(_) | Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        follow::settle(&self.engine, id).await;
        Ok(self.engine.store().batch_info(id).await?)
    }

    /// Sends the batch's failed and canceled rows again.
    pub async fn retry(&self, id: u64) -> Result<BatchInfo, BatchError> {
        let again = self.engine.store().retry_batch(id).await?;
        if again == 0 {
            return Err(EngineError::Conflict(format!(
                "batch {id} has no failed or canceled rows to retry"
            ))
            .into());
        }
        self.start_sender(id);
        Ok(self.engine.store().batch_info(id).await?)
    }

    /// After a start: every unfinished batch sends what it has left and copies what finished
    /// while the daemon was down; then the follower keeps up with job events.
    pub async fn resume(&self) -> Result<usize, StoreError> {
        let ids = self.engine.store().unfinished_batches().await?;
        for &id in &ids {
            self.start_sender(id);
            follow::settle(&self.engine, id).await;
        }
        follow::spawn(&self.engine);
        Ok(ids.len())
    }

    /// Starts the batch's sender unless one runs.
    fn start_sender(&self, id: u64) {
        if !self.claim(id) {
            return;
        }
        let this = self.clone();
        self.engine.spawn_owned(move |shutdown| async move {
            tokio::select! {
                _ = this.send_all(id) => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }

    fn claim(&self, id: u64) -> bool {
        self.senders.lock().is_ok_and(|mut s| s.insert(id))
    }

    fn release(&self, id: u64) {
        if let Ok(mut s) = self.senders.lock() {
            s.remove(&id);
        }
    }

    /// Sends every pending row of the batch, in order; rows a retry makes pending while it
    /// runs are sent too.
    async fn send_all(&self, id: u64) {
        let store = self.engine.store();
        loop {
            let rows = match store.pending_rows(id, SEND_CHUNK).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(batch = id, "cannot read the batch's rows: {e}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if rows.is_empty() {
                self.release(id);
                // A retry may have added rows just before the release: take them on.
                let again = store.pending_rows(id, 1).await.map(|r| !r.is_empty());
                if again.unwrap_or(false) && self.claim(id) {
                    continue;
                }
                break;
            }
            let asked = rows.len();
            let sent = self.send_chunk(id, rows).await;
            let short = sent.len() < asked;
            if let Err(e) = store.set_row_jobs(id, sent).await {
                tracing::warn!(batch = id, "rows' jobs not recorded: {e}");
            }
            if short {
                // The store is struggling: give it a moment before the rows left behind.
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        follow::settle(&self.engine, id).await;
    }

    /// Sends a chunk of rows, a few at a time, each under its row's key; returns what each
    /// became. A row the store could not take yet is left pending for the next round.
    async fn send_chunk(
        &self,
        id: u64,
        rows: Vec<PendingRow>,
    ) -> Vec<(u64, Result<JobId, String>)> {
        let sends = rows.into_iter().map(|row| async move {
            let key = format!("batch-{id}-{}-{}", row.index, row.attempt);
            let sent = self.engine.submit(row.spec, Some(key), row.retry_of).await;
            (row.index, sent)
        });
        let mut results = futures::stream::iter(sends).buffered(SENDS_IN_FLIGHT);
        let mut sent = Vec::new();
        while let Some((index, result)) = results.next().await {
            match result {
                Ok(job) => sent.push((index, Ok(job.id))),
                Err(EngineError::Store(e)) => {
                    tracing::warn!(batch = id, row = index, "row not sent yet: {e}");
                }
                Err(e) => sent.push((index, Err(e.to_string()))),
            }
        }
        sent
    }
}
