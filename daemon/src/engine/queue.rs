//! Queued jobs wait in the database, not in memory: each provider has one admitter, which
//! takes a free task slot, then the oldest queued job of that provider without a runner,
//! and starts its runner holding that slot. A submit or a start wakes the admitter; it
//! sleeps when nothing is queued. So 100,000 queued jobs cost rows, not tasks.

use super::inner::Inner;
use super::runner;
use crate::store::StoreError;
use genq_protocol::{Job, JobId, JobState};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// Queued ids read per look into the database (most are taken at once).
const LOOKAHEAD: u32 = 64;

/// Says a job of `provider` may be waiting: its admitter looks, starting it if needed.
pub(super) fn wake(inner: &Arc<Inner>, provider: &str) {
    let notify = {
        let mut admitters = inner.admitters.lock().unwrap_or_else(|p| p.into_inner());
        match admitters.get(provider) {
            Some(n) => n.clone(),
            None => {
                let n = Arc::new(Notify::new());
                admitters.insert(provider.to_string(), n.clone());
                let (inner2, name, woken) = (inner.clone(), provider.to_string(), n.clone());
                inner
                    .tasks
                    .spawn(async move { admit(inner2, name, woken).await });
                n
            }
        }
    };
    // Kept as a permit when the admitter is busy: it looks again before it sleeps.
    notify.notify_one();
}

async fn admit(inner: Arc<Inner>, provider: String, woken: Arc<Notify>) {
    let limits = inner.limits_of(&provider);
    loop {
        tokio::select! {
            biased;
            _ = inner.shutdown.cancelled() => return,
            _ = woken.notified() => {}
        }
        // Admit until nothing is left, then sleep until the next wake.
        loop {
            let slot = tokio::select! {
                biased;
                _ = inner.shutdown.cancelled() => return,
                s = limits.acquire_slot() => s,
            };
            match next_queued(&inner, &provider).await {
                Some(job) => runner::start(&inner, job, Some(slot)),
                None => break,
            }
        }
    }
}

/// The oldest queued job of `provider` that has no runner yet. A database that cannot be
/// read is tried again after a pause, so no queued job is forgotten.
async fn next_queued(inner: &Arc<Inner>, provider: &str) -> Option<Job> {
    let mut after: Option<JobId> = None;
    loop {
        let ids = match inner
            .store
            .queued_ids(provider.to_string(), after.clone(), LOOKAHEAD)
            .await
        {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!("cannot read the queue of {provider}: {e}; looking again in 1 s");
                tokio::select! {
                    _ = inner.shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let full = ids.len() as u32 == LOOKAHEAD;
        for id in ids {
            if inner.has_runner(&id) {
                after = Some(id);
                continue;
            }
            match inner.store.get_job(id.0.clone()).await {
                Ok(job) if job.state == JobState::Queued => return Some(job),
                // Canceled in the meantime.
                Ok(_) | Err(StoreError::NotFound(_)) => after = Some(id),
                Err(e) => {
                    tracing::warn!(job = %id, "cannot read a queued job: {e}");
                    after = Some(id);
                }
            }
        }
        if !full {
            return None;
        }
    }
}
