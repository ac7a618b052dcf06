//! The poll step: follows a running task until it ends, and decides when to ask.
//!
//! Retry policy: a failed poll is tried again with backoff, up to [`MAX_TRANSIENT`] in a row;
//! a rate limit slows the whole provider down and does not count; "task not found" is
//! believed transient for [`NOT_FOUND_GRACE`] after the submit; the job's deadline ends it.
//!
//! When to poll a running task. With a few recent run times of the same model, polling
//! starts just before the fastest of them and is spread evenly across their range, where the task
//! most likely ends, then backs off past the slowest. Without history, the first poll comes
//! near the provider's typical duration. Either way intervals stay between a floor and a cap
//! and carry jitter, so a task that runs long costs few requests while one that finishes in
//! the usual range is seen promptly.
//!
//! Without a progress figure from the provider, a poll can only be placed where finishing
//! is likely: for run times spread evenly over a range of width W, polls every W/N cost
//! about N/2 requests and detect the finish W/(2N) late on average; `DENSITY` picks N.

use super::limits::ProviderLimits;
use super::runner::{MAX_TRANSIENT, Runner, Step, Stop, backoff, fail, to_job_error};
use crate::providers::{PollStatus, Provider, ProviderError, RemoteOutput};
use crate::store::{OutputRecord, Transition};
use backon::ExponentialBackoff;
use genq_protocol::{Job, JobError, JobErrorKind, JobState, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// How long ModelScope-style "task not found" right after submit is believed to be transient.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(30);

/// Polls spread over the range of recent run times (N above). For run times spread over
/// 40 s, 20 comes close to a fixed 2 s poller's latency at about half its requests
/// (`cargo bench -p genq-e2e --bench polling`).
const DENSITY: u32 = 20;
/// Recent run times needed before their range is trusted over the typical duration.
const MIN_HISTORY: usize = 3;

#[derive(Clone, Debug)]
pub struct PollSchedule {
    expected: Duration,
    /// Fastest and slowest recent run times, when there are enough of them.
    window: Option<(Duration, Duration)>,
    density: u32,
    floor: Duration,
    cap: Duration,
    polls: u32,
}

/// Median of recent run times, in ms.
pub fn median(mut durations: Vec<i64>) -> Option<Duration> {
    if durations.is_empty() {
        return None;
    }
    durations.sort_unstable();
    let mid = durations[durations.len() / 2];
    Some(Duration::from_millis(mid.max(0) as u64))
}

impl PollSchedule {
    /// A schedule that knows only the usual duration.
    pub fn new(expected: Duration) -> Self {
        PollSchedule {
            expected,
            window: None,
            density: DENSITY,
            floor: Duration::from_millis(500),
            cap: Duration::from_secs(15),
            polls: 0,
        }
    }

    /// A schedule from the run times (ms) of the model's recent successful jobs: their range
    /// once there are enough of them, else their median as the usual duration (a real run
    /// says more than a default), else `typical`.
    pub fn from_history(recent_ms: &[i64], typical: Duration) -> Self {
        let mut sorted: Vec<u64> = recent_ms.iter().map(|d| (*d).max(0) as u64).collect();
        sorted.sort_unstable();
        match (sorted.first(), sorted.last()) {
            (Some(lo), Some(hi)) if sorted.len() >= MIN_HISTORY => PollSchedule {
                window: Some((Duration::from_millis(*lo), Duration::from_millis(*hi))),
                ..PollSchedule::new(Duration::from_millis(sorted[sorted.len() / 2]))
            },
            (Some(_), Some(_)) => {
                PollSchedule::new(Duration::from_millis(sorted[sorted.len() / 2]))
            }
            _ => PollSchedule::new(typical),
        }
    }

    /// Overrides the floor and cap (tests, providers with strict limits).
    pub fn with_bounds(mut self, floor: Duration, cap: Duration) -> Self {
        self.floor = floor;
        self.cap = cap.max(floor);
        self
    }

    /// Overrides how many polls are spread over the range of recent run times: more means
    /// earlier detection at the cost of requests.
    pub fn with_density(mut self, polls: u32) -> Self {
        self.density = polls.max(1);
        self
    }

    /// Delay before the next poll, given the time since the task was submitted and, when
    /// the provider reports one, its estimate of the time left.
    pub fn next_delay(&mut self, elapsed: Duration, eta: Option<Duration>) -> Duration {
        self.polls += 1;
        let base = match self.window {
            Some((lo, hi)) => {
                let step = (hi - lo) / self.density;
                // The fastest recent run is an upper bound on how soon one can end: start
                // one step before it.
                let start = lo.saturating_sub(step);
                if elapsed < start {
                    start - elapsed
                } else if elapsed < hi {
                    step
                } else {
                    // Slower than anything recent: back off the further it runs.
                    step + (elapsed - hi).mul_f64(0.25)
                }
            }
            None if elapsed < self.expected.mul_f64(0.75) => {
                // Before the usual finish: jump to just before it.
                self.expected.mul_f64(0.8).saturating_sub(elapsed)
            }
            None => {
                // Past it: poll densely near the usual time, then back off the further the
                // task runs beyond it.
                let overrun = elapsed.saturating_sub(self.expected.mul_f64(0.75));
                self.floor + overrun.mul_f64(0.25)
            }
        };
        let base = match eta {
            Some(eta) => base.min(eta.mul_f64(0.5).max(self.floor)),
            None => base,
        };
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        base.mul_f64(jitter).clamp(self.floor, self.cap)
    }

    /// The shortest wait between two polls.
    pub fn floor(&self) -> Duration {
        self.floor
    }

    pub fn polls(&self) -> u32 {
        self.polls
    }
}

/// How long the task took, in ms: from the provider's own start and finish times when it
/// reports both; otherwise from its start (the provider's, else the submit) to the middle of
/// the span in which it ended, between the last poll that saw it unfinished and the one that
/// saw it done. A provider clock ahead of ours falls back to the submit.
pub fn run_time_ms(
    (created_at, finished_at): (Option<Timestamp>, Option<Timestamp>),
    submitted_at: Timestamp,
    (unfinished, done): (Timestamp, Timestamp),
) -> u64 {
    let reported = created_at
        .zip(finished_at)
        .map(|(c, f)| f.millis_since(c))
        .filter(|ms| *ms >= 0);
    let ended = Timestamp::from_unix_millis(
        unfinished.unix_millis() + done.millis_since(unfinished).max(0) / 2,
    );
    let from_provider = created_at
        .map(|c| ended.millis_since(c))
        .filter(|ms| *ms >= 0);
    reported
        .or(from_provider)
        .unwrap_or_else(|| ended.millis_since(submitted_at))
        .max(0) as u64
}

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
    /// When the task was last seen unfinished: it ended between then and the poll that sees
    /// it done.
    seen_unfinished: Timestamp,
    /// A task found running after a restart may have ended while the daemon was down: ask at
    /// once rather than where the schedule would have been.
    ask_now: bool,
}

impl Polling {
    fn next_delay(&mut self, elapsed: Duration) -> Duration {
        if std::mem::take(&mut self.ask_now) {
            self.schedule.floor()
        } else {
            self.schedule.next_delay(elapsed, self.eta)
        }
    }

    fn pending(&mut self, asked_at: Timestamp, eta: Option<Duration>) {
        self.seen_unfinished = asked_at;
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
            self.wait(polling.next_delay(elapsed).min(left)).await?;
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
                    let generation_ms = run_time_ms(
                        (created_at, finished_at),
                        polling.submitted_at,
                        (polling.seen_unfinished, asked_at),
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
        Polling {
            remote_id,
            submitted_at,
            schedule: PollSchedule::from_history(&recent, typical),
            eta: None,
            delays: backoff(),
            transient: 0,
            last_error: None,
            seen_unfinished: submitted_at,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(d: Duration) -> f64 {
        d.as_secs_f64()
    }

    #[test]
    fn first_poll_waits_for_most_of_the_expected_time() {
        let mut s = PollSchedule::new(Duration::from_secs(30));
        let d = s.next_delay(Duration::ZERO, None);
        assert!(d >= Duration::from_secs(14), "{d:?}"); // capped at 15 s
        let mut s = PollSchedule::new(Duration::from_secs(10));
        let d = s.next_delay(Duration::ZERO, None);
        assert!(
            d >= Duration::from_secs(7) && d <= Duration::from_secs(9),
            "{d:?}"
        );
    }

    #[test]
    fn intervals_grow_past_the_expected_time_but_stay_capped() {
        let mut s = PollSchedule::new(Duration::from_secs(10));
        let near = s.next_delay(Duration::from_secs(9), None);
        let late = s.next_delay(Duration::from_secs(40), None);
        let very_late = s.next_delay(Duration::from_secs(4000), None);
        assert!(near < late, "{near:?} {late:?}");
        assert!(very_late <= Duration::from_secs(15));
        assert!(near >= Duration::from_millis(500));
    }

    #[test]
    fn history_puts_the_first_poll_at_the_fastest_recent_run() {
        let recent = [40_000, 22_000, 58_000, 31_000, 47_000];
        let mut s = PollSchedule::from_history(&recent, Duration::from_secs(30))
            .with_bounds(Duration::from_millis(500), Duration::from_secs(60));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((18.0..=22.5).contains(&first), "{first}"); // 20.2 s ± 10 % jitter
        // Too little history for a range: its median is the usual duration, not the default.
        let mut s = PollSchedule::from_history(&[5_000], Duration::from_secs(30));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((3.6..=4.4).contains(&first), "{first}");
        let mut s = PollSchedule::from_history(&[], Duration::from_secs(10));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((7.0..=9.0).contains(&first), "{first}");
    }

    #[test]
    fn polls_are_spread_over_the_recent_range_then_back_off() {
        // Range 20–60 s: 2 s apart inside it (±10 % jitter), growing past it.
        let recent = [20_000, 30_000, 40_000, 50_000, 60_000];
        let mut s = PollSchedule::from_history(&recent, Duration::from_secs(30));
        for at in [20, 35, 59] {
            let d = secs(s.next_delay(Duration::from_secs(at), None));
            assert!((1.7..=2.3).contains(&d), "at {at} s: {d}");
        }
        let past = secs(s.next_delay(Duration::from_secs(80), None));
        assert!(past > 2.5, "{past}");
        let far = s.next_delay(Duration::from_secs(4000), None);
        assert!(far <= Duration::from_secs(15));
        // A denser schedule polls more often inside the range.
        let mut dense =
            PollSchedule::from_history(&recent, Duration::from_secs(30)).with_density(40);
        let d = secs(dense.next_delay(Duration::from_secs(35), None));
        assert!((0.9..=1.1).contains(&d), "{d}");
    }

    #[test]
    fn a_tight_history_polls_at_the_floor_and_an_eta_shortens_the_wait() {
        let mut s = PollSchedule::from_history(&[10_000, 10_100, 10_050], Duration::from_secs(30));
        let d = s.next_delay(Duration::from_secs(10), None);
        assert_eq!(d, Duration::from_millis(500));
        let mut s = PollSchedule::new(Duration::from_secs(60));
        let d = s.next_delay(Duration::ZERO, Some(Duration::from_secs(4)));
        assert!(secs(d) <= 2.2, "{d:?}");
    }

    #[test]
    fn run_times_come_from_the_provider_or_the_middle_of_the_last_poll_gap() {
        let t = Timestamp::from_unix_millis;
        let submitted = t(1_000_000);
        // The provider's own start and finish, whatever our polls saw.
        let ms = run_time_ms(
            (Some(t(2_000_000)), Some(t(2_005_000))),
            submitted,
            (t(1_000_000), t(1_030_000)),
        );
        assert_eq!(ms, 5_000);
        // Seen unfinished at 4 s, done at 10 s: it ended near 7 s, not at 10 s.
        let ms = run_time_ms((None, None), submitted, (t(1_004_000), t(1_010_000)));
        assert_eq!(ms, 7_000);
        // A provider start time counts from there.
        let ms = run_time_ms(
            (Some(t(1_001_000)), None),
            submitted,
            (t(1_004_000), t(1_010_000)),
        );
        assert_eq!(ms, 6_000);
        // A provider clock ahead of ours falls back to the submit.
        let ms = run_time_ms(
            (Some(t(9_000_000)), None),
            submitted,
            (t(1_004_000), t(1_010_000)),
        );
        assert_eq!(ms, 7_000);
    }

    #[test]
    fn median_of_history() {
        assert_eq!(median(vec![30, 10, 20]), Some(Duration::from_millis(20)));
        assert_eq!(median(vec![]), None);
    }
}
