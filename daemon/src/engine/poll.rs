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

use genq_protocol::Timestamp;
use std::time::Duration;

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
