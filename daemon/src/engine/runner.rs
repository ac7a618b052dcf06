//! Drives one job from its current state to a final one. Every state change is committed
//! before the next step starts, so wherever the daemon stops, the job resumes from there.
//!
//! A runner stops at its next waiting point when the daemon shuts down (its state stays as
//! committed) or when its job is canceled (the cancel handler commits `canceled`).

use super::Inner;
use super::limits::Slot;
use super::poll::{PollSchedule, run_time_ms};
use crate::outputs::{self, FetchLimits};
use crate::providers::{OutputRole, PollStatus, Provider, ProviderError, RemoteOutput, redact};
use crate::store::{OutputRecord, StoreError, Transition};
use backon::BackoffBuilder;
use genq_protocol::{Job, JobError, JobErrorKind, JobState, Timestamp};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long ModelScope-style "task not found" right after submit is believed to be transient.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(30);
/// Consecutive transient failures of one call before the job fails with that error.
const MAX_TRANSIENT: u32 = 8;
/// Download attempts per output.
const FETCH_ATTEMPTS: u32 = 4;

/// Why a runner stopped before its job was final. Nothing else stops one: every other path
/// ends the job or keeps at it (store writes are retried until they go through).
enum Stop {
    /// Canceled or shutting down: nothing more to do here.
    Interrupted,
    /// The job was moved to a final state elsewhere (cancel) while we were working.
    Gone,
}

type Step<T> = Result<T, Stop>;

pub(super) async fn drive(
    inner: &Arc<Inner>,
    job: Job,
    token: CancellationToken,
    slot: Option<Slot>,
) {
    let id = job.id.clone();
    if let Err(e) = Runner::new(inner, token, slot).run(job).await {
        match e {
            Stop::Interrupted | Stop::Gone => {}
        }
    }
    tracing::debug!(job = %id, "runner finished");
}

struct Runner<'a> {
    inner: &'a Arc<Inner>,
    token: CancellationToken,
    slot: Option<Slot>,
    /// The next call's request was already let through the budget (a submit waits for it
    /// before it commits `submitting`).
    budget_taken: AtomicBool,
    /// This runner submitted the job (rather than finding it running after a restart).
    submitted_here: bool,
}

fn backoff() -> impl Iterator<Item = Duration> {
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
        let Some(provider) = self.inner.registry.get(&job.provider).cloned() else {
            let err = fail(
                JobErrorKind::Internal,
                format!("provider {:?} is no longer known", job.provider),
            );
            self.commit(&job, Transition::failed(err)).await?;
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
                    self.commit(&job, Transition::failed(err)).await?
                }
                JobState::Running => self.follow(&provider, job).await?,
                JobState::Fetching => self.fetch(&provider, job).await?,
                JobState::Storing => self.store_outputs(job).await?,
                JobState::Succeeded | JobState::Failed | JobState::Canceled => return Ok(()),
            };
        }
    }

    /// Commits a change; a job that became final meanwhile (canceled) stops the runner.
    async fn commit(&self, job: &Job, mut change: Transition) -> Step<Job> {
        if let Some(e) = change.error.as_mut() {
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
    async fn stored<T, F, Fut>(&self, job: &Job, what: &str, f: F) -> Step<Result<T, StoreError>>
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

    async fn note(&self, job: &Job, message: String) {
        let message = self.scrub(&message);
        if let Err(e) = self.inner.store.note(job.id.clone(), message).await {
            tracing::warn!(job = %job.id, "cannot record a note: {e}");
        }
    }

    /// The last line of defence before the store and subscribers: no configured key, bearer
    /// token or authorization value gets past it, whatever a provider sent back.
    fn scrub(&self, text: &str) -> String {
        let config = self.inner.config();
        redact::scrub(text, &config.secret_values())
    }

    /// Sleeps unless the job is canceled or the daemon stops.
    async fn wait(&self, d: Duration) -> Step<()> {
        tokio::select! {
            biased;
            _ = self.token.cancelled() => Err(Stop::Interrupted),
            _ = tokio::time::sleep(d) => Ok(()),
        }
    }

    fn limits(&self, job: &Job) -> Arc<super::ProviderLimits> {
        self.inner
            .limits
            .get(&job.provider)
            .cloned()
            .unwrap_or_else(|| super::ProviderLimits::new(Default::default()))
    }

    /// When the job must be done by: its timeout counted from its first submission.
    fn deadline(&self, job: &Job) -> Timestamp {
        let start = job
            .times
            .get(&JobState::Submitting)
            .copied()
            .unwrap_or(job.created_at);
        let timeout = self.limits(job).limits().timeout;
        Timestamp::from_unix_millis(start.unix_millis() + timeout.as_millis() as i64)
    }

    fn timed_out(&self, job: &Job, last: Option<&ProviderError>) -> JobError {
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

    /// One provider call with the budget applied, and transient failures retried with
    /// backoff until the job's deadline. Rate limits slow the whole provider down.
    async fn call<T, F, Fut>(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        what: &str,
        f: F,
    ) -> Step<Result<T, JobError>>
    where
        F: Fn(crate::providers::CallContext) -> Fut,
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
                self.commit(job, Transition::to(JobState::Submitting))
                    .await?;
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
                self.commit(job, Transition::to(JobState::Queued)).await?;
                requeued = true;
            }
            self.note(
                job,
                format!(
                    "{what} failed ({}); retrying in {:.1} s",
                    err.message,
                    delay.as_secs_f64()
                ),
            )
            .await;
            self.wait(delay).await?;
        }
    }

    async fn submit(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        let limits = self.limits(&job);
        let slot = tokio::select! {
            biased;
            _ = self.token.cancelled() => return Err(Stop::Interrupted),
            s = limits.acquire_slot() => s,
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
        let job = self
            .commit(&job, Transition::to(JobState::Submitting))
            .await?;
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
                    Transition {
                        to: Some(JobState::Running),
                        remote_id: Some(submitted.remote_id),
                        request: submitted.request_id.map(|r| ("submit".to_string(), r)),
                        ..Transition::default()
                    },
                )
                .await
            }
            Err(err) => self.commit(&job, Transition::failed(err)).await,
        }
    }

    async fn follow(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        if self.slot.is_none() {
            self.slot = Some(self.limits(&job).take_slot());
        }
        let Some(remote_id) = job.remote_id.clone() else {
            let err = fail(
                JobErrorKind::Internal,
                "running job has no provider task id".into(),
            );
            return self.commit(&job, Transition::failed(err)).await;
        };
        let submitted_at = job
            .times
            .get(&JobState::Running)
            .copied()
            .unwrap_or(job.created_at);
        let recent = self
            .inner
            .store
            .recent_durations(job.provider.clone(), job.model.clone(), 15)
            .await
            .unwrap_or_default();
        let typical = self
            .inner
            .config()
            .providers
            .get(&job.provider)
            .and_then(|s| s.typical)
            .unwrap_or_else(|| provider.typical_duration(&job.params));
        let mut schedule = PollSchedule::from_history(&recent, typical);
        let mut eta = None;
        let limits = self.limits(&job);
        let mut delays = backoff();
        let mut transient = 0;
        // Named in the timeout, should the job run out of time after it.
        let mut last_error: Option<ProviderError> = None;
        // When the task was last seen unfinished: it ended between then and the poll that
        // sees it done.
        let mut seen_unfinished = submitted_at;
        // A task found running after a restart may have ended while the daemon was down:
        // ask at once rather than where the schedule would have been.
        let mut ask_now = !self.submitted_here;
        loop {
            let elapsed =
                Duration::from_millis(Timestamp::now().millis_since(submitted_at).max(0) as u64);
            let deadline = self.deadline(&job);
            let left = Duration::from_millis(deadline.millis_since(Timestamp::now()).max(0) as u64);
            if left.is_zero() {
                let err = self.timed_out(&job, last_error.as_ref());
                self.slot = None;
                return self.commit(&job, Transition::failed(err)).await;
            }
            let delay = if std::mem::take(&mut ask_now) {
                schedule.floor()
            } else {
                schedule.next_delay(elapsed, eta)
            };
            self.wait(delay.min(left)).await?;
            tokio::select! {
                biased;
                _ = self.token.cancelled() => return Err(Stop::Interrupted),
                _ = limits.request_budget() => {}
            }
            let Some(ctx) = self.inner.call_context(&job.provider) else {
                self.slot = None;
                let err = fail(JobErrorKind::Internal, "provider is not configured".into());
                return self.commit(&job, Transition::failed(err)).await;
            };
            let asked_at = Timestamp::now();
            let polled = provider.poll(&ctx, &remote_id).await;
            if let Some(q) = provider.last_quota() {
                limits.record_quota(q);
            }
            match polled {
                Ok(PollStatus::Pending { progress, eta: e }) => {
                    seen_unfinished = asked_at;
                    transient = 0;
                    eta = e;
                    limits.record_error(None);
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
                Ok(PollStatus::Succeeded {
                    outputs,
                    failures,
                    request_id,
                    created_at,
                    finished_at,
                }) => {
                    limits.record_error(None);
                    self.slot = None;
                    for f in failures {
                        self.note(&job, format!("the provider reported a failed output: {f}"))
                            .await;
                    }
                    if outputs.is_empty() {
                        let err = fail(
                            JobErrorKind::Provider,
                            "the provider reported success but no outputs".into(),
                        );
                        return self.commit(&job, Transition::failed(err)).await;
                    }
                    let records = outputs
                        .iter()
                        .enumerate()
                        .map(|(i, o)| record(i as u32, o))
                        .collect();
                    return self
                        .commit(
                            &job,
                            Transition {
                                to: Some(JobState::Fetching),
                                outputs: records,
                                request: request_id.map(|r| ("poll".to_string(), r)),
                                generation_ms: Some(run_time_ms(
                                    (created_at, finished_at),
                                    submitted_at,
                                    (seen_unfinished, asked_at),
                                )),
                                ..Transition::default()
                            },
                        )
                        .await;
                }
                Ok(PollStatus::Failed(e)) => {
                    self.slot = None;
                    limits.record_error(Some(format!("poll: {}", e.message)));
                    let change = Transition {
                        request: e.request_id.clone().map(|r| ("poll".to_string(), r)),
                        ..Transition::failed(to_job_error(&e))
                    };
                    return self.commit(&job, change).await;
                }
                Err(e) => {
                    limits.record_error(Some(format!("poll: {}", e.message)));
                    last_error = Some(e.clone());
                    // "Task not found" right after submit is the provider catching up.
                    let keep_polling = if e.kind == JobErrorKind::NotFound {
                        elapsed < NOT_FOUND_GRACE
                    } else {
                        e.retryable
                    };
                    if !keep_polling {
                        self.slot = None;
                        return self
                            .commit(&job, Transition::failed(to_job_error(&e)))
                            .await;
                    }
                    if e.rate_limited {
                        limits.slow_down(e.retry_after.unwrap_or(Duration::from_secs(5)));
                    } else if e.kind != JobErrorKind::NotFound {
                        transient += 1;
                        if transient >= MAX_TRANSIENT {
                            self.slot = None;
                            return self
                                .commit(&job, Transition::failed(to_job_error(&e)))
                                .await;
                        }
                        let d = delays.next().unwrap_or(Duration::from_secs(30)).min(left);
                        self.note(
                            &job,
                            format!(
                                "poll failed ({}); retrying in {:.1} s",
                                e.message,
                                d.as_secs_f64()
                            ),
                        )
                        .await;
                        self.wait(d).await?;
                    }
                }
            }
        }
    }

    async fn fetch(&mut self, provider: &Arc<dyn Provider>, job: Job) -> Step<Job> {
        let mut records = self
            .stored(&job, "read the outputs", || {
                self.inner.store.output_records(job.id.clone())
            })
            .await?
            .map_err(|_| Stop::Gone)?;
        let dir = outputs::job_dir(&self.inner.paths.outputs, &job.id, job.created_at);
        // A download cut short by a crash leaves only a temporary file: clear those away.
        let _ = outputs::remove_partials(&dir);
        let limits = FetchLimits::from_config(&self.inner.config().outputs);
        let png_params = outputs::png_params_json(&job);
        let provider_limits = self.limits(&job);
        // Links are asked for again once per fetch, after the first refused download.
        let mut requeried = false;
        for k in 0..records.len() {
            let rec = records[k].clone();
            let role = role_from(&rec.role);
            if let Some(found) = self.already_fetched(&job, &rec, role, &dir).await {
                self.record_output(&job, rec.index, found).await?;
                continue;
            }
            let mut attempt = 0;
            let mut delays = backoff();
            let mut local_delays = backoff();
            let fetched = loop {
                attempt += 1;
                tokio::select! {
                    biased;
                    _ = self.token.cancelled() => return Err(Stop::Interrupted),
                    _ = provider_limits.request_budget() => {}
                }
                let result = tokio::select! {
                    r = outputs::fetch_with_params(
                        &self.inner.http,
                        &records[k].source_url,
                        role,
                        rec.format.as_deref(),
                        &dir,
                        rec.index,
                        &limits,
                        Some(&png_params),
                    ) => r,
                    _ = self.token.cancelled() => return Err(Stop::Interrupted),
                };
                match result {
                    Ok(f) => break f,
                    // The disk, not the download: wait for room (or file handles) as long as
                    // it takes; the job does not fail for it.
                    Err(e) if e.local => {
                        attempt -= 1;
                        let d = local_delays.next().unwrap_or(Duration::from_secs(60));
                        self.note(
                            &job,
                            format!(
                                "output {} cannot be saved ({}); trying again in {:.0} s",
                                rec.index,
                                e.message,
                                d.as_secs_f64()
                            ),
                        )
                        .await;
                        self.wait(d).await?;
                    }
                    Err(e) if e.retryable && attempt < FETCH_ATTEMPTS => {
                        let d = delays.next().unwrap_or(Duration::from_secs(5));
                        self.note(
                            &job,
                            format!(
                                "download of output {} failed ({}); retrying",
                                rec.index, e.message
                            ),
                        )
                        .await;
                        self.wait(d).await?;
                    }
                    Err(e) if e.link_refused() && !requeried => {
                        requeried = true;
                        match self.refresh_links(provider, &job, &mut records).await? {
                            // Download again, from the fresh link.
                            Ok(()) => {}
                            Err(why) => {
                                let err = fail(
                                    e.kind,
                                    format!("output {}: {}; {why}", rec.index, e.message),
                                );
                                return self.commit(&job, Transition::failed(err)).await;
                            }
                        }
                    }
                    Err(e) => {
                        let err = JobError {
                            kind: e.kind,
                            message: format!("output {}: {}", rec.index, e.message),
                            provider_request_id: None,
                        };
                        return self.commit(&job, Transition::failed(err)).await;
                    }
                }
            };
            self.record_output(&job, rec.index, fetched).await?;
        }
        let job = self
            .stored(&job, "reload the job", || {
                self.inner.store.get_job(job.id.0.clone())
            })
            .await?
            .map_err(|_| Stop::Gone)?;
        // The parameters beside the files, so any output can be traced and re-run.
        if let Err(e) = outputs::write_params_json(&dir, &job) {
            tracing::warn!(job = %job.id, "cannot write params.json: {e}");
        }
        self.commit(&job, Transition::to(JobState::Storing)).await
    }

    /// After a download was refused (an expired signed link), asks the provider for the task
    /// again and records the fresh links it lists. `Err` says why there are none.
    async fn refresh_links(
        &self,
        provider: &Arc<dyn Provider>,
        job: &Job,
        records: &mut [OutputRecord],
    ) -> Step<Result<(), String>> {
        let Some(remote_id) = job.remote_id.clone() else {
            return Ok(Err("the job has no provider task id to ask again".into()));
        };
        self.note(
            job,
            "the output link was refused (expired?); asking the provider for fresh links".into(),
        )
        .await;
        let p = provider.clone();
        let outcome = self
            .call(provider, job, "re-query", |ctx| {
                let p = p.clone();
                let remote_id = remote_id.clone();
                async move { p.poll(&ctx, &remote_id).await }
            })
            .await?;
        let (outputs, request_id) = match outcome {
            Ok(PollStatus::Succeeded {
                outputs,
                request_id,
                ..
            }) => (outputs, request_id),
            Ok(PollStatus::Pending { .. }) => {
                return Ok(Err(
                    "asked again, the provider says the task is not done".into()
                ));
            }
            Ok(PollStatus::Failed(e)) => {
                return Ok(Err(format!(
                    "asked again, the provider says: {}",
                    e.message
                )));
            }
            Err(e) => {
                return Ok(Err(format!(
                    "asking the provider again failed: {}",
                    e.message
                )));
            }
        };
        let mut fresh = Vec::new();
        for (pos, rec) in records.iter_mut().enumerate() {
            // Match by the provider's name for the output, else by position.
            let found = match &rec.label {
                Some(label) => outputs.iter().find(|o| o.label.as_ref() == Some(label)),
                None => outputs.get(pos),
            };
            if let Some(o) = found
                && o.url != rec.source_url
            {
                rec.source_url = o.url.clone();
                fresh.push(rec.clone());
            }
        }
        if fresh.is_empty() {
            return Ok(Err("asked again, the provider gave the same links".into()));
        }
        self.commit(
            job,
            Transition {
                outputs: fresh,
                request: request_id.map(|r| ("requery".to_string(), r)),
                ..Transition::default()
            },
        )
        .await?;
        Ok(Ok(()))
    }

    /// A complete output already on disk (after a restart): the one recorded, or one renamed
    /// into place just before a crash. `None` means download it (again).
    async fn already_fetched(
        &self,
        job: &Job,
        rec: &OutputRecord,
        role: OutputRole,
        dir: &std::path::Path,
    ) -> Option<outputs::Fetched> {
        let known = job.outputs.iter().find(|o| o.index == rec.index);
        let expected = outputs::ExpectedOutput {
            sha256: known.and_then(|o| o.sha256.clone()),
            size: known.and_then(|o| o.size),
        };
        let path = known
            .and_then(|o| o.path.as_ref())
            .map(std::path::PathBuf::from)
            .filter(|p| p.is_file())
            .or_else(|| outputs::find_existing(dir, rec.index))?;
        outputs::verify_existing(&path, role, rec.format.as_deref(), &expected)
            .await
            .ok()
    }

    async fn record_output(&self, job: &Job, index: u32, f: outputs::Fetched) -> Step<()> {
        let already = job
            .outputs
            .iter()
            .any(|o| o.index == index && o.sha256.as_deref() == Some(f.sha256.as_str()));
        if already {
            return Ok(());
        }
        let path = f.path.display().to_string();
        self.stored(job, "record an output", || {
            self.inner.store.output_stored(
                job.id.clone(),
                index,
                path.clone(),
                f.sha256.clone(),
                f.size,
                f.mime.clone(),
                f.width.zip(f.height),
            )
        })
        .await?
        .map_err(|_| Stop::Gone)?;
        Ok(())
    }

    async fn store_outputs(&mut self, job: Job) -> Step<Job> {
        let targets = super::upload::targets_for(self.inner, &job);
        if !targets.is_empty()
            && super::upload::upload_outputs(self.inner, &job, &targets, &self.token)
                .await
                .is_err()
        {
            return Err(Stop::Interrupted);
        }
        self.commit(&job, Transition::to(JobState::Succeeded)).await
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

fn fail(kind: JobErrorKind, message: String) -> JobError {
    JobError {
        kind,
        message,
        provider_request_id: None,
    }
}

fn to_job_error(e: &ProviderError) -> JobError {
    JobError {
        kind: e.kind,
        message: e.message.clone(),
        provider_request_id: e.request_id.clone(),
    }
}

fn role_name(role: OutputRole) -> &'static str {
    match role {
        OutputRole::Image => "image",
        OutputRole::Model => "model",
        OutputRole::Preview => "preview",
    }
}

fn role_from(name: &str) -> OutputRole {
    match name {
        "model" => OutputRole::Model,
        "preview" => OutputRole::Preview,
        _ => OutputRole::Image,
    }
}

fn record(index: u32, o: &RemoteOutput) -> OutputRecord {
    OutputRecord {
        index,
        role: role_name(o.role).to_string(),
        label: o.label.clone(),
        format: o.format.clone(),
        source_url: o.url.clone(),
    }
}
