//! What the accept loop does when things go wrong: a failing `accept` (out of file
//! descriptors, most often) is retried after a growing pause instead of at once, and
//! repeated warnings are written at a bounded rate with a count of the ones left out.

use std::time::{Duration, Instant};

const FIRST_PAUSE: Duration = Duration::from_millis(10);
const LONGEST_PAUSE: Duration = Duration::from_secs(1);
/// At most one line per kind of warning in this interval.
pub const WARN_EVERY: Duration = Duration::from_secs(10);

/// The pause after a failed `accept`: a pending connection stays queued while descriptors
/// are exhausted, so retrying at once would spin.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff { next: FIRST_PAUSE }
    }
}

impl Backoff {
    /// The pause before the next `accept` after a failure; longer after each one.
    pub fn failed(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(LONGEST_PAUSE);
        pause
    }

    pub fn succeeded(&mut self) {
        self.next = FIRST_PAUSE;
    }
}

/// Decides when a repeated warning may be written again.
#[derive(Debug)]
pub struct Throttle {
    every: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    pub fn new(every: Duration) -> Throttle {
        Throttle {
            every,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a line may be written now, `n` being how many were left out since the
    /// last one; `None` when this one is left out.
    pub fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < self.every)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

/// ` (N more like it not logged)`, or nothing.
pub fn suppressed_note(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(
            " ({n} more like it in the last {} s not logged)",
            WARN_EVERY.as_secs()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pause_grows_to_a_bound_and_resets_after_a_success() {
        let mut b = Backoff::default();
        let pauses: Vec<_> = (0..10).map(|_| b.failed()).collect();
        assert_eq!(pauses[0], FIRST_PAUSE);
        assert!(pauses.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(pauses[9], LONGEST_PAUSE);
        b.succeeded();
        assert_eq!(b.failed(), FIRST_PAUSE);
    }

    #[test]
    fn a_throttled_warning_counts_what_it_left_out() {
        let mut t = Throttle::new(Duration::from_secs(10));
        let start = Instant::now();
        assert_eq!(t.allow(start), Some(0));
        for i in 1..=1000 {
            assert_eq!(t.allow(start + Duration::from_millis(i)), None);
        }
        assert_eq!(t.allow(start + Duration::from_secs(11)), Some(1000));
        assert_eq!(t.allow(start + Duration::from_secs(12)), None);
    }
}
