//! Drives one job from its current state to a final one: the loop over the steps (`submit`,
//! `poll`, `fetch`, `upload`, one file each), and what they share (committing a change,
//! retrying store writes, notes, waits, the job's deadline). Every state change is committed
//! before the next step starts, so wherever the daemon stops, the job resumes from there.
//!
//! A runner stops at its next waiting point when the daemon shuts down (its state stays as
//! committed) or when its job is canceled (the cancel handler commits `canceled`).

use super::inner::Inner;
use super::limits::{ProviderLimits, Slot};
use crate::providers::{ProviderError, redact};
use crate::store::{StoreError, Transition};
use backon::{BackoffBuilder, ExponentialBackoff};
use genq_protocol::{Job, JobError, JobErrorKind, JobState, Timestamp};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Consecutive transient failures of one call before the job fails with that error.
pub(super) const MAX_TRANSIENT: u32 = 8;

/// Why a runner stopped before its job was final. Nothing else stops one: every other path
/// ends the job or keeps at it (store writes are retried until they go through).
pub(super) enum Stop {
    /// Canceled or shutting down: nothing more to do here.
    Interrupted,
    /// The job was moved to a final state elsewhere (cancel) while we were working.
    Gone,
}

pub(super) type Step<T> = Result<T, Stop>;

/// Starts a runner for `job` on a task of its own, holding `slot` when it has one (a task
/// already at the provider, or the slot its admitter took for it).
pub(super) fn start(inner: &Arc<Inner>, job: Job, slot: Option<Slot>) {
    let token = inner.shutdown.child_token();
    if let Ok(mut running) = inner.running.lock() {
        running.insert(job.id.clone(), token.clone());
    }
    let runner_inner = inner.clone();
    inner.tasks.spawn(async move {
        let id = job.id.clone();
        drive(&runner_inner, job, token, slot).await;
        if let Ok(mut running) = runner_inner.running.lock() {
            running.remove(&id);
        }
    });
}

async fn drive(inner: &Arc<Inner>, job: Job, token: CancellationToken, slot: Option<Slot>) {
    let id = job.id.clone();
    if let Err(e) = Runner::new(inner, token, slot).run(job).await {
        match e {
            Stop::Interrupted | Stop::Gone => {}
        }
    }
    tracing::debug!(job = %id, "runner finished");
}

pub(super) struct Runner<'a> {
    pub(super) inner: &'a Arc<Inner>,
    pub(super) token: CancellationToken,
    pub(super) slot: Option<Slot>,
    /// The next call's request was already let through the budget (a submit waits for it
    /// before it commits `submitting`).
    pub(super) budget_taken: AtomicBool,
    /// This runner submitted the job (rather than finding it running after a restart).
    pub(super) submitted_here: bool,
}

pub(super) fn backoff() -> ExponentialBackoff {
    backon::ExponentialBuilder::default()
        .with_jitter()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(60))
        .without_max_times()
        .build()
}

impl<'a> Runner<'a> {
    fn new(inner: &'a Arc<Inner>, token: CancellationToken, slot: Option<Slot>) -> Self {
        Runner {
            inner,
            token,
            slot,
            budget_taken: AtomicBool::new(false),
            submitted_here: false,
        }
    }

    async fn run(mut self, mut job: Job) -> Step<()> {
        let Some(provider) = self.inner.adaptor(&job.provider) else {
            let err = fail(
                JobErrorKind::Internal,
                format!("provider {:?} is no longer known", job.provider),
            );
            self.commit(&job, Transition::Failed(err)).await?;
            return Ok(());
        };
        loop {
            job = match job.state {
                JobState::Queued => self.submit(&provider, job).await?,
                JobState::Submitting => {
                    // Only reachable when a submit was cut short in this process.
                    let err = fail(
                        JobErrorKind::Interrupted,
                        "submission was interrupted".into(),
                    );
                    self.commit(&job, Transition::Failed(err)).await?
                }
                JobState::Running => self.follow(&provider, job).await?,
                JobState::Fetching => self.fetch(&provider, job).await?,
                JobState::Storing => self.store_outputs(job).await?,
                JobState::Succeeded | JobState::Failed | JobState::Canceled => return Ok(()),
            };
        }
    }

    /// Commits a change; a job that became final meanwhile (canceled) stops the runner.
    pub(super) async fn commit(&self, job: &Job, mut change: Transition) -> Step<Job> {
        if let Some(e) = change.error_mut() {
            e.message = self.scrub(&e.message);
        }
        let id = &job.id;
        let outcome = self
            .stored(job, "record a state change", || {
                self.inner.store.transition(id.clone(), change.clone())
            })
            .await?;
        match outcome {
            Ok((job, _)) => Ok(job),
            Err(_) => Err(Stop::Gone),
        }
    }

    /// Runs a store call until it goes through: a write that fails (a locked database, a
    /// full disk) is tried again with backoff, so a job is never left half-way while the
    /// daemon runs. A refused transition or a job that is gone comes back as `Err`; only a
    /// stop or a cancel ends the wait.
    pub(super) async fn stored<T, F, Fut>(
        &self,
        job: &Job,
        what: &str,
        f: F,
    ) -> Step<Result<T, StoreError>>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delays = backoff();
        loop {
            match f().await {
                Ok(v) => return Ok(Ok(v)),
                Err(e @ (StoreError::IllegalTransition { .. } | StoreError::NotFound(_))) => {
                    return Ok(Err(e));
                }
                Err(e) => {
                    let d = delays.next().unwrap_or(Duration::from_secs(60));
                    tracing::warn!(
                        job = %job.id,
                        "cannot {what}: {e}; trying again in {:.1} s",
                        d.as_secs_f64()
                    );
                    self.wait(d).await?;
                }
            }
        }
    }

    pub(super) async fn note(&self, job: &Job, message: String) {
        let message = self.scrub(&message);
        if let Err(e) = self.inner.store.note(job.id.clone(), message).await {
            tracing::warn!(job = %job.id, "cannot record a note: {e}");
        }
    }

    /// Says on the job that `what` failed and when it is tried again, then waits that long.
    pub(super) async fn retry_later(
        &self,
        job: &Job,
        what: &str,
        why: &str,
        d: Duration,
    ) -> Step<()> {
        self.note(
            job,
            format!(
                "{what} failed ({why}); retrying in {:.1} s",
                d.as_secs_f64()
            ),
        )
        .await;
        self.wait(d).await
    }

    /// The last line of defence before the store and subscribers: no configured key, bearer
    /// token or authorization value gets past it, whatever a provider sent back.
    fn scrub(&self, text: &str) -> String {
        let config = self.inner.config();
        redact::scrub(text, &config.secret_values())
    }

    /// Sleeps unless the job is canceled or the daemon stops.
    pub(super) async fn wait(&self, d: Duration) -> Step<()> {
        tokio::select! {
            biased;
            _ = self.token.cancelled() => Err(Stop::Interrupted),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    pub(super) fn limits(&self, job: &Job) -> Arc<ProviderLimits> {
        self.inner.limits_of(&job.provider)
    }

    /// When the job must be done by: its timeout counted from its first submission.
    pub(super) fn deadline(&self, job: &Job) -> Timestamp {
        let start = job
            .times
            .get(&JobState::Submitting)
            .copied()
            .unwrap_or(job.created_at);
        let timeout = self.limits(job).limits().timeout;
        Timestamp::from_unix_millis(start.unix_millis() + timeout.as_millis() as i64)
    }

    pub(super) fn timed_out(&self, job: &Job, last: Option<&ProviderError>) -> JobError {
        let timeout = self.limits(job).limits().timeout;
        let mut message = format!(
            "the job did not finish within its timeout of {} s (timeout_s in [providers.{}])",
            timeout.as_secs(),
            job.provider
        );
        if let Some(e) = last {
            message.push_str(&format!("; last error: {}", e.message));
        }
        JobError {
            kind: JobErrorKind::Timeout,
            message,
            provider_request_id: last.and_then(|e| e.request_id.clone()),
        }
    }
}

pub(super) fn fail(kind: JobErrorKind, message: String) -> JobError {
    JobError {
        kind,
        message,
        provider_request_id: None,
    }
}

pub(super) fn to_job_error(e: &ProviderError) -> JobError {
    JobError {
        kind: e.kind,
        message: e.message.clone(),
        provider_request_id: e.request_id.clone(),
    }
}
