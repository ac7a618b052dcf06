//! A wake-up on every daemon event, for tests that check state with their own calls.

use std::time::Duration;

use serde_json::json;

use super::home::Home;

/// Wakes a waiter on every event a subscribed connection receives, while the waiter never
/// reads that socket itself (a read cut short by a timeout would lose part of a line). For
/// tests that check state with their own calls and must not hang if an event is lost.
pub struct EventPulse {
    pulse: std::sync::Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl EventPulse {
    /// Subscribes a new connection to new events.
    pub async fn start(home: &Home) -> EventPulse {
        let mut c = home.client().await;
        c.ok("subscribe", json!({})).await;
        let pulse = std::sync::Arc::new(tokio::sync::Notify::new());
        let notify = pulse.clone();
        let task = tokio::spawn(async move {
            while c.read_line().await.is_some() {
                notify.notify_one();
            }
        });
        EventPulse { pulse, task }
    }

    /// Returns after the next event (or one that came since the last call), or after `max`;
    /// true when an event came.
    pub async fn wait(&self, max: Duration) -> bool {
        tokio::time::timeout(max, self.pulse.notified())
            .await
            .is_ok()
    }
}

impl Drop for EventPulse {
    fn drop(&mut self) {
        self.task.abort();
    }
}
