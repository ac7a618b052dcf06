//! The submit step: takes its task slot (from the admitter) and waits for the request budget, commits `submitting`, and
//! sends the job once. Retries are [`Runner::call`]'s, except that a submit that may have
//! created the task is not sent again (see [`not_repeated`]).

use super::runner::{Runner, Step, Stop};
use crate::providers::{Provider, ProviderError};
use crate::store::Transition;
use genq_protocol::{Job, JobErrorKind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

impl Runner<'_> {
    pub(super) async fn submit(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        let limits = self.limits(&job);
        // The admitter hands a queued job its slot; a job back in the queue after a refused
        // submit kept the one it had.
        let slot = match self.slot.take() {
            Some(slot) => slot,
            None => tokio::select! {
                biased;
                _ = self.token.cancelled() => return Err(Stop::Interrupted),
                s = limits.acquire_slot() => s,
            },
        };
        // `submitting` means the request may have gone out, so it is committed only once
        // nothing stands between it and the send: a stop while waiting for the budget (or a
        // provider-wide pause) leaves the job queued, and it runs after a restart.
        tokio::select! {
            biased;
            _ = self.token.cancelled() => return Err(Stop::Interrupted),
            _ = limits.request_budget() => {}
        }
        if self.token.is_cancelled() {
            return Err(Stop::Interrupted);
        }
        self.budget_taken.store(true, Ordering::Relaxed);
        let job = self.commit(&job, Transition::Submitting).await?;
        let spec = job.params.clone();
        let p = provider.clone();
        // Not interruptible by shutdown once sent: the task id must be recorded if it comes.
        let outcome = self
            .call(provider, &job, "submit", |ctx| {
                let p = p.clone();
                let spec = spec.clone();
                let shown = job.short_id();
                async move {
                    let submitted = p.submit(&ctx, &spec).await;
                    submitted.map_err(|e| not_repeated(e, p.as_ref(), &shown))
                }
            })
            .await?;
        match outcome {
            Ok(submitted) => {
                self.slot = Some(slot);
                self.submitted_here = true;
                self.commit(
                    &job,
                    Transition::Submitted {
                        remote_id: submitted.remote_id,
                        request_id: submitted.request_id,
                    },
                )
                .await
            }
            Err(err) => self.commit(&job, Transition::Failed(err)).await,
        }
    }
}

/// A submit that may have created the task is not sent again, unless the provider makes a
/// repeat safe: it fails `interrupted`, keeping the provider's words and request id, and
/// `genq retry` is the way to send it again.
fn not_repeated(e: ProviderError, provider: &dyn Provider, job: &str) -> ProviderError {
    if !(e.retryable && e.maybe_accepted) || provider.idempotent_submit() {
        return e;
    }
    let message = format!(
        "the submit may or may not have reached {} ({}); it was not sent again, so the job \
         cannot run twice. `genq retry {job}` sends it again",
        provider.name(),
        e.message
    );
    ProviderError {
        kind: JobErrorKind::Interrupted,
        retryable: false,
        rate_limited: false,
        message,
        ..e
    }
}
