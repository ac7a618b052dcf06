//! When to poll a running task, and how long a finished one took.
//!
//! A poll only says "still running" or "done", so polls can only be placed where a task is
//! likely to end. For run times spread evenly over a window of width W ending at `end`, polls
//! with density λ(t) cost about ∫λ(t)·(end − t)/W requests per task (a poll is paid by every
//! task still running) and see the finish about ∫1/(2λ(t))/W late. The best trade-off is
//! λ ∝ 1/√(end − t): sparse where the window starts, when every task still runs, and dense
//! near its end, where few remain. `DENSITY` polls over the window cost about N/3 requests
//! and see the finish 2W/(3N) late: latency × requests ≈ 2W/9, against W/4 for even spacing
//! (`cargo bench -p genq-e2e --bench polling`).
//!
//! The window is learned from the model's recent run times. Without enough of them, the first
//! poll comes near the provider's typical duration. Intervals stay between a floor and a cap
//! and carry jitter, so a task that runs long costs few requests.

use genq_protocol::Timestamp;
use std::time::Duration;

/// Polls spread over the window of recent run times (N above). For run times spread over
/// 40 s, 24 sees a finish within 0.15 s of a fixed 2 s poller's mean latency with under half
/// its requests.
const DENSITY: u32 = 24;
/// Recent run times needed before their range is trusted over the typical duration.
const MIN_HISTORY: usize = 3;
/// How many of the model's recent run times the window is learned from: more pin its ends
/// down better, fewer follow a change of speed sooner.
pub const RECENT_RUNS: u32 = 30;

/// Where recent runs of the model ended, widened at each side by the average spacing between
/// them: the fastest and slowest of n runs fall short of the true range by about that much.
#[derive(Clone, Copy, Debug)]
struct Window {
    start: Duration,
    end: Duration,
}

impl Window {
    /// From run times in ms, sorted.
    fn learned(sorted: &[u64]) -> Option<Window> {
        let (&fastest, &slowest) = (sorted.first()?, sorted.last()?);
        if sorted.len() < MIN_HISTORY {
            return None;
        }
        let spacing = (slowest - fastest) / (sorted.len() as u64 - 1);
        Some(Window {
            start: Duration::from_millis(fastest.saturating_sub(spacing)),
            end: Duration::from_millis(slowest + spacing),
        })
    }

    /// The wait from `elapsed` (inside the window) to the next of `density` polls spread with
    /// density ∝ 1/√(time left): √(end − t) drops by the same step a = √W/N from one poll to
    /// the next, which makes the gap a·(2√(end − t) − a).
    fn gap(&self, elapsed: Duration, density: u32) -> Duration {
        let width = self.end.saturating_sub(self.start).as_secs_f64();
        let step = width.sqrt() / f64::from(density);
        let left = self.end.saturating_sub(elapsed).as_secs_f64();
        Duration::from_secs_f64((step * (2.0 * left.sqrt() - step)).max(0.0))
    }
}

#[derive(Clone, Debug)]
pub struct PollSchedule {
    expected: Duration,
    window: Option<Window>,
    density: u32,
    floor: Duration,
    cap: Duration,
    polls: u32,
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

    /// A schedule from the run times (ms) of the model's recent successful jobs: their window
    /// once there are enough of them, else their median as the usual duration (a real run
    /// says more than a default), else `typical`.
    pub fn from_history(recent_ms: &[i64], typical: Duration) -> Self {
        let mut sorted: Vec<u64> = recent_ms.iter().map(|d| (*d).max(0) as u64).collect();
        sorted.sort_unstable();
        let Some(&median) = sorted.get(sorted.len() / 2) else {
            return PollSchedule::new(typical);
        };
        PollSchedule {
            window: Window::learned(&sorted),
            ..PollSchedule::new(Duration::from_millis(median))
        }
    }

    /// Overrides the floor and cap (tests, providers with strict limits).
    pub fn with_bounds(mut self, floor: Duration, cap: Duration) -> Self {
        self.floor = floor;
        self.cap = cap.max(floor);
        self
    }

    /// Overrides how many polls are spread over the window of recent run times: more means
    /// earlier detection at the cost of requests.
    pub fn with_density(mut self, polls: u32) -> Self {
        self.density = polls.max(1);
        self
    }

    /// Delay before the next poll, given the time since the task was submitted and, when
    /// the provider reports one, its estimate of the time left.
    pub fn next_delay(&mut self, elapsed: Duration, eta: Option<Duration>) -> Duration {
        self.polls += 1;
        // `wait` is certain, `gap` carries the jitter; only waits inside or past a window of
        // recent runs, or without one, are capped.
        let (wait, gap, cap) = match self.window {
            // No recent run ended this early: wait for the window's first poll, however far
            // off.
            Some(w) if elapsed < w.start => (
                w.start - elapsed,
                w.gap(w.start, self.density),
                Duration::MAX,
            ),
            Some(w) if elapsed < w.end => (Duration::ZERO, w.gap(elapsed, self.density), self.cap),
            // Slower than anything recent: back off the further it runs.
            Some(w) => (
                Duration::ZERO,
                self.floor + (elapsed - w.end).mul_f64(0.25),
                self.cap,
            ),
            // Before the usual finish: jump to just before it.
            None if elapsed < self.expected.mul_f64(0.75) => (
                Duration::ZERO,
                self.expected.mul_f64(0.8).saturating_sub(elapsed),
                self.cap,
            ),
            // Past it: poll densely near the usual time, then back off the further the task
            // runs beyond it.
            None => {
                let overrun = elapsed.saturating_sub(self.expected.mul_f64(0.75));
                (Duration::ZERO, self.floor + overrun.mul_f64(0.25), self.cap)
            }
        };
        let (wait, gap) = match eta.map(|eta| eta.mul_f64(0.5).max(self.floor)) {
            Some(soon) if soon < wait + gap => (Duration::ZERO, soon),
            _ => (wait, gap),
        };
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        (wait + gap.mul_f64(jitter)).clamp(self.floor, cap.max(self.floor))
    }

    /// The wait from `now` to the next poll, spaced from `sent`, when the last answered poll
    /// was sent (both since the submit), so the time a reply takes does not stretch the
    /// schedule.
    pub fn wait_from(
        &mut self,
        sent: Option<Duration>,
        now: Duration,
        eta: Option<Duration>,
    ) -> Duration {
        let from = sent.map_or(now, |sent| sent.min(now));
        self.next_delay(from, eta).saturating_sub(now - from)
    }

    /// The latest time the task is known, or believed, to have been running: the last poll
    /// that saw it unfinished. Before any, no recent run ended before one gap ahead of the
    /// window's first poll, so a task the first poll sees done is taken to have ended after
    /// that (else every quick task would count from the submit and drag the window's start
    /// down); without a window, or when the first poll came earlier, the submit.
    pub fn running_until(
        &self,
        submitted_at: Timestamp,
        seen_running: Option<Timestamp>,
        done_at: Timestamp,
    ) -> Timestamp {
        if let Some(seen) = seen_running {
            return seen;
        }
        let Some(w) = self.window else {
            return submitted_at;
        };
        let quiet = w.start.saturating_sub(w.gap(w.start, self.density));
        let believed =
            Timestamp::from_unix_millis(submitted_at.unix_millis() + quiet.as_millis() as i64);
        if believed < done_at {
            believed
        } else {
            submitted_at
        }
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
/// the span in which it ended, between the last time it was running (see
/// [`PollSchedule::running_until`]) and the poll that saw it done. A provider clock ahead of
/// ours falls back to the submit.
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
    fn history_puts_the_first_poll_one_gap_into_the_window_of_recent_runs() {
        // 22–58 s over 5 runs, widened by their spacing (9 s): the window is 13–67 s and its
        // first gap 4.4 s ± 10 % jitter, so the first poll comes at 17.4 s, past the cap.
        let recent = [40_000, 22_000, 58_000, 31_000, 47_000];
        let mut s = PollSchedule::from_history(&recent, Duration::from_secs(30));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((16.9..=17.9).contains(&first), "{first}");
        // Too little history for a window: its median is the usual duration, not the default.
        let mut s = PollSchedule::from_history(&[5_000], Duration::from_secs(30));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((3.6..=4.4).contains(&first), "{first}");
        let mut s = PollSchedule::from_history(&[], Duration::from_secs(10));
        let first = secs(s.next_delay(Duration::ZERO, None));
        assert!((7.0..=9.0).contains(&first), "{first}");
    }

    #[test]
    fn gaps_shrink_with_the_square_root_of_the_time_left_then_back_off() {
        // Window 10–70 s: the gap a·(2√(70 − t) − a) with a = √60/24 ± 10 % jitter.
        let recent = [20_000, 30_000, 40_000, 50_000, 60_000];
        let mut s = PollSchedule::from_history(&recent, Duration::from_secs(30));
        for (at, gap) in [(20, 4.46), (35, 3.71), (59, 2.04)] {
            let d = secs(s.next_delay(Duration::from_secs(at), None));
            assert!((gap * 0.89..=gap * 1.11).contains(&d), "at {at} s: {d}");
        }
        let end = s.next_delay(Duration::from_millis(69_500), None);
        assert_eq!(end, Duration::from_millis(500), "the floor near the end");
        let past = secs(s.next_delay(Duration::from_secs(80), None));
        assert!(past > 2.5, "{past}");
        let far = s.next_delay(Duration::from_secs(4000), None);
        assert!(far <= Duration::from_secs(15));
        // A denser schedule polls more often inside the window.
        let mut dense =
            PollSchedule::from_history(&recent, Duration::from_secs(30)).with_density(40);
        let d = secs(dense.next_delay(Duration::from_secs(35), None));
        assert!((2.0..=2.5).contains(&d), "{d}");
    }

    /// Polls of a whole task, from the submit until one sees it done at `ends` s.
    fn follow(s: &mut PollSchedule, ends: f64) -> Vec<f64> {
        let mut at = Vec::new();
        let mut now = Duration::ZERO;
        while secs(now) < ends {
            now += s.next_delay(now, None);
            at.push(secs(now));
        }
        at
    }

    #[test]
    fn uniform_run_times_cost_near_the_bound_with_polls_densest_at_the_end() {
        // Recent runs every second from 20 to 60 s: the window is 19–61 s.
        let recent: Vec<i64> = (20..=60).map(|s| s * 1000).collect();
        let schedule = PollSchedule::from_history(&recent, Duration::from_secs(30));
        // A task still running at the end: every poll of the window.
        let polls = follow(&mut schedule.clone(), 61.0);
        let inside: Vec<f64> = polls.iter().copied().filter(|t| *t >= 19.0).collect();
        let gaps: Vec<f64> = inside.windows(2).map(|w| w[1] - w[0]).collect();
        let (first, last) = (gaps[0], gaps[gaps.len() - 1]);
        assert!(first > 3.0 * last, "gaps {gaps:?}");
        assert!(gaps.windows(2).all(|w| w[1] <= w[0] * 1.3), "gaps {gaps:?}");
        assert!((18..=28).contains(&polls.len()), "{polls:?}");
        // Tasks ending evenly over 20–60 s: latency × requests within 1.25 × 2W/9.
        let (mut requests, mut latency) = (0.0, 0.0);
        let ends: Vec<f64> = (0..800).map(|i| 20.0 + f64::from(i) * 0.05).collect();
        for ends in &ends {
            let polls = follow(&mut schedule.clone(), *ends);
            requests += polls.len() as f64;
            latency += polls[polls.len() - 1] - ends;
        }
        let (r, l) = (requests / 800.0, latency / 800.0);
        let bound = 2.0 * 40.0 / 9.0;
        assert!(r * l <= 1.25 * bound, "{r} requests, {l} s late: {}", r * l);
        assert!(l <= 1.4, "{l} s late");
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
    fn the_next_poll_is_spaced_from_when_the_last_was_sent() {
        let ms = Duration::from_millis;
        let mut s = PollSchedule::from_history(&[10_000, 10_100, 10_050], Duration::from_secs(30));
        // Sent at 10 s, answered at 10.2 s: 0.5 s after the send, not after the reply.
        assert_eq!(s.wait_from(Some(ms(10_000)), ms(10_200), None), ms(300));
        assert_eq!(
            s.wait_from(Some(ms(10_000)), ms(11_000), None),
            Duration::ZERO
        );
        assert_eq!(s.wait_from(None, ms(10_000), None), ms(500));
    }

    #[test]
    fn a_task_the_first_poll_sees_done_ended_inside_the_window() {
        let t = Timestamp::from_unix_millis;
        let submitted = t(1_000_000);
        // Window 13–67 s, first gap 4.4 s: believed running until 8.6 s.
        let recent = [40_000, 22_000, 58_000, 31_000, 47_000];
        let s = PollSchedule::from_history(&recent, Duration::from_secs(30));
        let until = s.running_until(submitted, None, t(1_017_400));
        assert!(
            (8_500..=8_700).contains(&until.millis_since(submitted)),
            "{until:?}"
        );
        let ms = run_time_ms((None, None), submitted, (until, t(1_017_400)));
        assert!((12_900..=13_100).contains(&ms), "{ms}");
        // A poll that saw it running says more; a first poll before that time says nothing.
        assert_eq!(
            s.running_until(submitted, Some(t(1_020_000)), t(1_022_000)),
            t(1_020_000)
        );
        assert_eq!(s.running_until(submitted, None, t(1_005_000)), submitted);
        // Without a window: the submit.
        let s = PollSchedule::new(Duration::from_secs(30));
        assert_eq!(s.running_until(submitted, None, t(1_017_400)), submitted);
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
}
