//! The event feed a subscriber gets, whatever carries it (a socket session, an HTTP event
//! stream): the stored events after a `seq`, then live ones, each exactly once and in order.

use crate::store::Store;
use genq_protocol::Event;
use tokio::sync::{broadcast, mpsc};

/// Events replayed from the database per query.
const REPLAY_BATCH: u32 = 500;

/// What a feed delivers.
pub enum FeedItem<'a> {
    Event(&'a Event),
    /// The subscriber fell behind the live bus; the feed ends after this.
    Resync {
        last_seq: u64,
    },
}

/// Sends the events after `since` to `out` as `wrap` makes them, replaying from the database
/// and then following `live` (subscribed before the caller read its head, so nothing falls
/// between the two). Ends when `out` closes, the bus closes or the subscriber falls behind.
pub async fn forward<T>(
    store: Store,
    mut live: broadcast::Receiver<Event>,
    since: u64,
    out: mpsc::Sender<T>,
    wrap: impl Fn(FeedItem<'_>) -> Option<T>,
) {
    let mut last = since;
    if !replay(&store, &mut last, u64::MAX, &out, &wrap).await {
        return;
    }
    // The bus carries events in seq order; a hole (an event committed but never announced)
    // is filled from the database, so the subscriber still sees every seq once.
    loop {
        match live.recv().await {
            Ok(e) if e.seq <= last => continue,
            Ok(e) => {
                if e.seq > last + 1 && !replay(&store, &mut last, e.seq - 1, &out, &wrap).await {
                    return;
                }
                let Some(item) = wrap(FeedItem::Event(&e)) else {
                    continue;
                };
                if out.send(item).await.is_err() {
                    return;
                }
                last = e.seq;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                if let Some(item) = wrap(FeedItem::Resync { last_seq: last }) {
                    let _ = out.send(item).await;
                }
                return;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Sends the stored events after `last` up to `upto`, advancing `last`; `false` when the
/// subscriber is gone or the database cannot be read.
async fn replay<T>(
    store: &Store,
    last: &mut u64,
    upto: u64,
    out: &mpsc::Sender<T>,
    wrap: &impl Fn(FeedItem<'_>) -> Option<T>,
) -> bool {
    while *last < upto {
        let Ok(batch) = store.events_since(*last, REPLAY_BATCH).await else {
            return false;
        };
        let Some(end) = batch.last().map(|e| e.seq) else {
            return true;
        };
        for e in batch.iter().filter(|e| e.seq <= upto) {
            let Some(item) = wrap(FeedItem::Event(e)) else {
                continue;
            };
            if out.send(item).await.is_err() {
                return false;
            }
            *last = e.seq;
        }
        if end > upto {
            return true;
        }
        *last = end;
    }
    true
}
