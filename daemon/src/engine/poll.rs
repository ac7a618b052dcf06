//! When to poll a running task. The first poll comes near the time this model usually
//! takes (the median of its recent successful jobs, else the provider's default); after
//! that the interval grows with jitter from a floor to a cap, so a task that runs long
//! costs few requests while one that finishes near the usual time is seen promptly.

use std::time::Duration;

#[derive(Clone, Debug)]
pub struct PollSchedule {
    expected: Duration,
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
    pub fn new(expected: Duration) -> Self {
        PollSchedule {
            expected,
            floor: Duration::from_millis(500),
            cap: Duration::from_secs(15),
            polls: 0,
        }
    }

    /// Overrides the floor and cap (tests, providers with strict limits).
    pub fn with_bounds(mut self, floor: Duration, cap: Duration) -> Self {
        self.floor = floor;
        self.cap = cap.max(floor);
        self
    }

    /// Delay before the next poll, given the time since the task was submitted and, when
    /// the provider reports one, its estimate of the time left.
    pub fn next_delay(&mut self, elapsed: Duration, eta: Option<Duration>) -> Duration {
        self.polls += 1;
        let base = if elapsed < self.expected.mul_f64(0.75) {
            // Before the usual finish: jump to just before it.
            self.expected.mul_f64(0.8).saturating_sub(elapsed)
        } else {
            // Past it: poll densely near the usual time, then back off the further the task
            // runs beyond it.
            let overrun = elapsed.saturating_sub(self.expected.mul_f64(0.75));
            self.floor + overrun.mul_f64(0.25)
        };
        let base = match eta {
            Some(eta) => base.min(eta.mul_f64(0.5).max(self.floor)),
            None => base,
        };
        let jitter = 0.9 + rand::random::<f64>() * 0.2;
        base.mul_f64(jitter).clamp(self.floor, self.cap)
    }

    pub fn polls(&self) -> u32 {
        self.polls
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn median_of_history() {
        assert_eq!(median(vec![30, 10, 20]), Some(Duration::from_millis(20)));
        assert_eq!(median(vec![]), None);
    }
}
