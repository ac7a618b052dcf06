//! Per-provider limits shared by every job of that provider: the request budget (a token
//! bucket shared by submits, polls and downloads), the number of remote tasks in flight,
//! and the slowdown a 429 or `Retry-After` imposes on all of them at once.

use crate::config::Limits;
use crate::providers::QuotaInfo;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Live state of one provider.
pub struct ProviderLimits {
    inner: Mutex<Inner>,
    freed: Notify,
}

struct Inner {
    limits: Limits,
    in_flight: u32,
    limiter: Arc<DefaultDirectRateLimiter>,
    paused_until: Option<Instant>,
    last_error: Option<String>,
    quota: Option<QuotaInfo>,
}

fn limiter_for(rps: f64) -> Arc<DefaultDirectRateLimiter> {
    let period = Duration::from_secs_f64(1.0 / rps.max(0.001));
    let quota = Quota::with_period(period)
        .unwrap_or_else(|| Quota::per_second(std::num::NonZeroU32::MIN))
        // A small burst lets a handful of jobs start together without waiting in line.
        .allow_burst(
            std::num::NonZeroU32::new((rps.ceil() as u32).clamp(1, 10))
                .unwrap_or(std::num::NonZeroU32::MIN),
        );
    Arc::new(RateLimiter::direct(quota))
}

/// A remote task slot; dropping it frees the slot for the next queued job.
pub struct Slot {
    limits: Arc<ProviderLimits>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut inner) = self.limits.inner.lock() {
            inner.in_flight = inner.in_flight.saturating_sub(1);
        }
        // One slot freed: wake one waiter (FIFO), not the whole queue.
        self.limits.freed.notify_one();
    }
}

/// Live figures for `genq providers` and `daemon.status`; the limits themselves are in the
/// provider's settings and its queue is counted in the database.
#[derive(Clone, Debug, Default)]
pub struct LimitsSnapshot {
    pub in_flight: u32,
    pub paused_for: Option<Duration>,
    pub last_error: Option<String>,
    pub quota: Option<QuotaInfo>,
}

impl ProviderLimits {
    pub fn new(limits: Limits) -> Arc<Self> {
        Arc::new(ProviderLimits {
            inner: Mutex::new(Inner {
                limiter: limiter_for(limits.requests_per_second),
                limits,
                in_flight: 0,
                paused_until: None,
                last_error: None,
                quota: None,
            }),
            freed: Notify::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies new limits (config reload) from the next request on.
    pub fn update(&self, limits: Limits) {
        let mut inner = self.lock();
        if inner.limits.requests_per_second != limits.requests_per_second {
            inner.limiter = limiter_for(limits.requests_per_second);
        }
        inner.limits = limits;
        drop(inner);
        self.freed.notify_waiters();
    }

    pub fn limits(&self) -> Limits {
        self.lock().limits
    }

    /// Waits for a free remote-task slot.
    pub async fn acquire_slot(self: &Arc<Self>) -> Slot {
        loop {
            // Registered before the check, so a slot freed in between still wakes us.
            let notified = self.freed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut inner = self.lock();
                if inner.in_flight < inner.limits.max_concurrent {
                    inner.in_flight += 1;
                    return Slot {
                        limits: self.clone(),
                    };
                }
            }
            notified.await;
        }
    }

    /// Takes a slot even when all are in use: a task already running at the provider (found
    /// after a restart) counts against the limit but must not wait for it.
    pub fn take_slot(self: &Arc<Self>) -> Slot {
        self.lock().in_flight += 1;
        Slot {
            limits: self.clone(),
        }
    }

    /// Waits until a request may be sent: after any provider-wide pause, then through the
    /// token bucket.
    pub async fn request_budget(&self) {
        loop {
            let (pause, limiter) = {
                let inner = self.lock();
                (inner.paused_until, inner.limiter.clone())
            };
            match pause {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => {
                    limiter.until_ready().await;
                    return;
                }
            }
        }
    }

    /// Pauses every request to this provider for `wait` (a 429, `Retry-After`).
    pub fn slow_down(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut inner = self.lock();
        if inner.paused_until.is_none_or(|u| u < until) {
            inner.paused_until = Some(until);
        }
    }

    pub fn record_error(&self, message: Option<String>) {
        self.lock().last_error = message;
    }

    pub fn record_quota(&self, quota: QuotaInfo) {
        self.lock().quota = Some(quota);
    }

    pub fn snapshot(&self) -> LimitsSnapshot {
        let inner = self.lock();
        LimitsSnapshot {
            in_flight: inner.in_flight,
            paused_for: inner
                .paused_until
                .and_then(|u| u.checked_duration_since(Instant::now())),
            last_error: inner.last_error.clone(),
            quota: inner.quota.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Limits of one task slot, that slot taken, and a second task waiting for it.
    async fn one_taken_one_waiting() -> (Arc<ProviderLimits>, Slot, tokio::task::JoinHandle<Slot>) {
        let l = ProviderLimits::new(Limits {
            max_concurrent: 1,
            ..Limits::default()
        });
        let first = l.acquire_slot().await;
        let l2 = l.clone();
        let waiter = tokio::spawn(async move { l2.acquire_slot().await });
        tokio::task::yield_now().await;
        (l, first, waiter)
    }

    #[tokio::test]
    async fn slots_are_limited_and_freed_on_drop() {
        let (l, first, waiter) = one_taken_one_waiting().await;
        assert!(!waiter.is_finished());
        assert_eq!(l.snapshot().in_flight, 1);
        drop(first);
        let _second = waiter.await.unwrap();
        assert_eq!(l.snapshot().in_flight, 1);
    }

    #[tokio::test]
    async fn raising_the_limit_wakes_waiters() {
        let (l, _first, waiter) = one_taken_one_waiting().await;
        l.update(Limits {
            max_concurrent: 2,
            ..Limits::default()
        });
        let _second = waiter.await.unwrap();
        assert_eq!(l.snapshot().in_flight, 2);
    }
}
