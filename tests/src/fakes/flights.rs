//! When each provider task was in flight, so a test can tell how many a client had running at
//! once (`max_concurrent` is a promise about exactly that).
//!
//! A task counts from its creation (the accepted submit) until the first poll reply that
//! reports it final (or, when no poll ever did, until its scheduled end). A client that keeps
//! its limit holds a slot from before it sends the submit until it has read that reply, so the
//! overlap counted here never exceeds what the client really had in flight.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::common::lock;

/// One provider task's time in flight.
#[derive(Debug, Clone)]
pub struct Flight {
    pub task_id: String,
    /// The submit's `prompt` (or `input.prompt`), which tests use to tell jobs apart.
    pub prompt: Option<String>,
    pub start: Instant,
    /// When the task is scheduled to end by itself; `None`: never.
    pub scheduled_end: Option<Instant>,
    /// When a poll reply first reported it final.
    pub reported_end: Option<Instant>,
}

impl Flight {
    /// The end of its time in flight, as defined above; `None`: still in flight.
    pub fn end(&self) -> Option<Instant> {
        self.reported_end.or(self.scheduled_end)
    }
}

/// Every task a fake created, with its time in flight.
#[derive(Debug, Default)]
pub struct Flights(Mutex<Vec<Flight>>);

impl Flights {
    /// Records a task created now that ends by itself after `duration` (`None`: never).
    pub(crate) fn created(
        &self,
        task_id: &str,
        prompt: Option<String>,
        duration: Option<Duration>,
    ) {
        let start = Instant::now();
        lock(&self.0).push(Flight {
            task_id: task_id.to_string(),
            prompt,
            start,
            scheduled_end: duration.map(|d| start + d),
            reported_end: None,
        });
    }

    /// Records that a poll reply is about to report the task final (the first one counts).
    pub(crate) fn reported_final(&self, task_id: &str) {
        let now = Instant::now();
        if let Some(f) = lock(&self.0)
            .iter_mut()
            .find(|f| f.task_id == task_id && f.reported_end.is_none())
        {
            f.reported_end = Some(now);
        }
    }

    pub fn all(&self) -> Vec<Flight> {
        lock(&self.0).clone()
    }

    /// The most tasks that were in flight at the same moment, counting only those `keep`
    /// selects.
    pub fn max_where(&self, keep: impl Fn(&Flight) -> bool) -> usize {
        // Sweep over start (+1) and end (-1) points; an end at the same instant as a start
        // comes first, since the slot was free again by then.
        let mut points: Vec<(Instant, i32)> = Vec::new();
        for f in lock(&self.0).iter().filter(|f| keep(f)) {
            points.push((f.start, 1));
            if let Some(end) = f.end() {
                points.push((end, -1));
            }
        }
        points.sort();
        let (mut now, mut max) = (0i32, 0i32);
        for (_, step) in points {
            now += step;
            max = max.max(now);
        }
        usize::try_from(max).unwrap_or(0)
    }
}
