//! One provider call on a job's behalf, with its retry policy: the provider's request budget
//! applied, transient failures retried with backoff until the job's deadline or
//! [`MAX_TRANSIENT`] in a row, rate limits slowing the whole provider down.

use super::runner::{MAX_TRANSIENT, Runner, Step, Stop, backoff, fail, to_job_error};
use crate::providers::{CallContext, Provider, ProviderError};
use crate::store::Transition;
use genq_protocol::{Job, JobError, JobErrorKind, JobState, Timestamp};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Runner<'_> {
    /// One provider call with the budget applied, and transient failures retried with
    /// backoff until the job's deadline. Rate limits slow the whole provider down.
    pub(super) async fn call<T, F, Fut>(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        what: &str,
        f: F,
    ) -> Step<Result<T, JobError>>
    where
        F: Fn(CallContext) -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let limits = self.limits(job);
        let mut delays = backoff();
        let mut transient = 0;
        // A submit refused before anything was accepted waits as `queued` (see below).
        let mut requeued = false;
        loop {
            if !self.budget_taken.swap(false, Ordering::Relaxed) {
                tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Err(Stop::Interrupted),
                    _ = limits.request_budget() => {}
                }
            }
            if requeued {
                self.commit(job, Transition::Submitting).await?;
                requeued = false;
            }
            let Some(ctx) = self.inner.call_context(&job.provider) else {
                return Ok(Err(fail(
                    JobErrorKind::Internal,
                    "provider is not configured".into(),
                )));
            };
            let outcome = f(ctx).await;
            if let Some(q) = provider.last_quota() {
                limits.record_quota(q);
            }
            let err = match outcome {
                Ok(v) => {
                    limits.record_error(None);
                    return Ok(Ok(v));
                }
                Err(e) => e,
            };
            limits.record_error(Some(format!("{what}: {}", err.message)));
            if !err.retryable {
                return Ok(Err(to_job_error(&err)));
            }
            let mut delay = delays.next().unwrap_or(Duration::from_secs(60));
            if err.rate_limited {
                // A rate limit is not this job's fault: it does not count towards giving up.
                let pause = err.retry_after.unwrap_or(delay);
                limits.slow_down(pause);
                delay = pause;
            } else {
                transient += 1;
                if transient >= MAX_TRANSIENT {
                    return Ok(Err(to_job_error(&err)));
                }
            }
            if Timestamp::now() >= self.deadline(job) {
                return Ok(Err(self.timed_out(job, Some(&err))));
            }
            if job.state == JobState::Submitting && !err.maybe_accepted {
                // The provider took nothing (refused, rate limited): the job waits as
                // `queued`, so a stop during the wait leaves it to run after the restart.
                self.commit(job, Transition::Requeued).await?;
                requeued = true;
            }
            self.retry_later(job, what, &err.message, delay).await?;
        }
    }
}
