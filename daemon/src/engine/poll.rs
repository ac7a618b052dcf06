//! The poll step: follows a running task until it ends, and decides when to ask.
//!
//! Retry policy: a failed poll is tried again with backoff, up to [`MAX_TRANSIENT`] in a row;
//! a rate limit slows the whole provider down and does not count; "task not found" is
//! believed transient for [`NOT_FOUND_GRACE`] after the submit; the job's deadline ends it.
//!
//! When to poll and how long a finished task took live in [`schedule`].

use super::limits::ProviderLimits;
use super::runner::{MAX_TRANSIENT, Runner, Step, Stop, backoff, fail, to_job_error};
use crate::providers::{PollStatus, Provider, ProviderError, RemoteOutput};
use crate::store::{OutputRecord, Transition};
use backon::ExponentialBackoff;
use genq_protocol::{Job, JobError, JobErrorKind, JobState, Timestamp};
use std::sync::Arc;
use std::time::Duration;

mod schedule;
pub use schedule::{PollSchedule, RECENT_RUNS, run_time_ms};

/// How long ModelScope-style "task not found" right after submit is believed to be transient.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(30);

/// What the poll loop keeps from one poll to the next.
struct Polling {
    remote_id: String,
    submitted_at: Timestamp,
    schedule: PollSchedule,
    /// The provider's latest estimate of the time left.
    eta: Option<Duration>,
    delays: ExponentialBackoff,
    /// Failed polls in a row.
    transient: u32,
    /// Named in the timeout, should the job run out of time after it.
    last_error: Option<ProviderError>,
    /// When a poll last saw the task unfinished: it ended between then and the poll that
    /// sees it done.
    seen_running: Option<Timestamp>,
    /// When the last poll was sent, if it was answered: the next is spaced from then. After a
    /// failed poll, which waits out its own backoff, from the end of that wait.
    answered: Option<Timestamp>,
    /// A task found running after a restart may have ended while the daemon was down: ask at
    /// once rather than where the schedule would have been.
    ask_now: bool,
}

impl Polling {
    fn next_wait(&mut self, now: Timestamp) -> Duration {
        if std::mem::take(&mut self.ask_now) {
            return self.schedule.floor();
        }
        let since_submit =
            |t: Timestamp| Duration::from_millis(t.millis_since(self.submitted_at).max(0) as u64);
        let sent = self.answered.map(since_submit);
        self.schedule.wait_from(sent, since_submit(now), self.eta)
    }

    fn pending(&mut self, asked_at: Timestamp, eta: Option<Duration>) {
        self.seen_running = Some(asked_at);
        self.answered = Some(asked_at);
        self.transient = 0;
        self.eta = eta;
    }
}

impl Runner<'_> {
    /// Polls the running task until it finishes, fails or runs out of time.
    pub(super) async fn follow(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        if self.slot.is_none() {
            self.slot = Some(self.limits(&job).take_slot());
        }
        let Some(remote_id) = job.remote_id.clone() else {
            let err = fail(
                JobErrorKind::Internal,
                "running job has no provider task id".into(),
            );
            return self.commit(&job, Transition::Failed(err)).await;
        };
        let mut polling = self.start_polling(provider, &job, remote_id).await;
        let limits = self.limits(&job);
        loop {
            let elapsed = Duration::from_millis(
                Timestamp::now().millis_since(polling.submitted_at).max(0) as u64,
            );
            let deadline = self.deadline(&job);
            let left = Duration::from_millis(deadline.millis_since(Timestamp::now()).max(0) as u64);
            if left.is_zero() {
                let err = self.timed_out(&job, polling.last_error.as_ref());
                return self.give_up(&job, Transition::Failed(err)).await;
            }
            self.wait(polling.next_wait(Timestamp::now()).min(left))
                .await?;
            tokio::select! {
                biased;
                _ = self.token.cancelled() => return Err(Stop::Interrupted),
                _ = limits.request_budget() => {}
            }
            let Some(ctx) = self.inner.call_context(&job.provider) else {
                let err = fail(JobErrorKind::Internal, "provider is not configured".into());
                return self.give_up(&job, Transition::Failed(err)).await;
            };
            let asked_at = Timestamp::now();
            let polled = provider.poll(&ctx, &polling.remote_id).await;
            if let Some(q) = provider.last_quota() {
                limits.record_quota(q);
            }
            match polled {
                Ok(PollStatus::Pending { progress, eta }) => {
                    polling.pending(asked_at, eta);
                    limits.record_error(None);
                    self.record_progress(&job, progress).await;
                }
                Ok(PollStatus::Succeeded {
                    outputs,
                    failures,
                    request_id,
                    created_at,
                    finished_at,
                }) => {
                    limits.record_error(None);
                    let running_until = polling.schedule.running_until(
                        polling.submitted_at,
                        polling.seen_running,
                        asked_at,
                    );
                    let generation_ms = run_time_ms(
                        (created_at, finished_at),
                        polling.submitted_at,
                        (running_until, asked_at),
                    );
                    return self
                        .finished(&job, outputs, failures, request_id, generation_ms)
                        .await;
                }
                Ok(PollStatus::Failed(e)) => {
                    self.slot = None;
                    limits.record_error(Some(format!("poll: {}", e.message)));
                    return self
                        .commit(&job, Transition::TaskFailed(to_job_error(&e)))
                        .await;
                }
                Err(e) => {
                    polling.answered = None;
                    let failed = self
                        .poll_failed(&job, &mut polling, &limits, e, (elapsed, left))
                        .await?;
                    if let Some(err) = failed {
                        return self.give_up(&job, Transition::Failed(err)).await;
                    }
                }
            }
        }
    }

    async fn start_polling(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        remote_id: String,
    ) -> Polling {
        let submitted_at = job
            .times
            .get(&JobState::Running)
            .copied()
            .unwrap_or(job.created_at);
        let recent = self
            .inner
            .store
            .recent_durations(job.provider.clone(), job.model.clone(), RECENT_RUNS)
            .await
            .unwrap_or_default();
        let typical = self
            .inner
            .config()
            .providers
            .get(&job.provider)
            .and_then(|s| s.typical)
            .unwrap_or_else(|| provider.typical_duration(&job.params));
        Polling {
            remote_id,
            submitted_at,
            schedule: PollSchedule::from_history(&recent, typical),
            eta: None,
            delays: backoff(),
            transient: 0,
            last_error: None,
            seen_running: None,
            answered: None,
            ask_now: !self.submitted_here,
        }
    }

    /// The task is over at the provider: its slot is free, whatever the job's end.
    async fn give_up(&mut self, job: &Job, change: Transition) -> Step<Job> {
        self.slot = None;
        self.commit(job, change).await
    }

    async fn record_progress(&self, job: &Job, progress: Option<u8>) {
        if let Some(p) = progress
            && let Err(e) = self
                .inner
                .store
                .set_progress(job.id.clone(), p.min(100))
                .await
        {
            tracing::warn!(job = %job.id, "cannot record progress: {e}");
        }
    }

    /// The task finished: its outputs are recorded with the move to `fetching`.
    async fn finished(
        &mut self,
        job: &Job,
        outputs: Vec<RemoteOutput>,
        failures: Vec<String>,
        request_id: Option<String>,
        generation_ms: u64,
    ) -> Step<Job> {
        self.slot = None;
        for f in failures {
            self.note(job, format!("the provider reported a failed output: {f}"))
                .await;
        }
        if outputs.is_empty() {
            let err = fail(
                JobErrorKind::Provider,
                "the provider reported success but no outputs".into(),
            );
            return self.commit(job, Transition::Failed(err)).await;
        }
        let outputs = outputs
            .iter()
            .enumerate()
            .map(|(i, o)| record(i as u32, o))
            .collect();
        let change = Transition::Finished {
            outputs,
            request_id,
            generation_ms,
        };
        self.commit(job, change).await
    }

    /// A poll that failed: `Some` is the error the job fails with, `None` means poll again
    /// (after a backoff wait for a transient failure).
    async fn poll_failed(
        &self,
        job: &Job,
        polling: &mut Polling,
        limits: &ProviderLimits,
        e: ProviderError,
        (elapsed, left): (Duration, Duration),
    ) -> Step<Option<JobError>> {
        limits.record_error(Some(format!("poll: {}", e.message)));
        polling.last_error = Some(e.clone());
        // "Task not found" right after submit is the provider catching up.
        let keep_polling = if e.kind == JobErrorKind::NotFound {
            elapsed < NOT_FOUND_GRACE
        } else {
            e.retryable
        };
        if !keep_polling {
            return Ok(Some(to_job_error(&e)));
        }
        if e.rate_limited {
            limits.slow_down(e.retry_after.unwrap_or(Duration::from_secs(5)));
        } else if e.kind != JobErrorKind::NotFound {
            polling.transient += 1;
            if polling.transient >= MAX_TRANSIENT {
                return Ok(Some(to_job_error(&e)));
            }
            let d = polling
                .delays
                .next()
                .unwrap_or(Duration::from_secs(30))
                .min(left);
            self.retry_later(job, "poll", &e.message, d).await?;
        }
        Ok(None)
    }
}

fn record(index: u32, o: &RemoteOutput) -> OutputRecord {
    OutputRecord {
        index,
        role: o.role,
        label: o.label.clone(),
        format: o.format.clone(),
        source_url: o.url.clone(),
    }
}
