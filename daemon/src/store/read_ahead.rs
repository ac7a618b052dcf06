//! Pages of `jobs.list` read ahead for clients walking a whole listing.

use super::error::StoreError;
use super::wire::TextPage;
use genq_protocol::methods::ListParams;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Pages read ahead, each until the page after it is asked for or it is too old to stand
/// for the database as it is: a page is read once a client asks, and one read ahead stands
/// in for that moment only briefly.
#[derive(Default)]
pub(super) struct ReadAhead(Mutex<Vec<Ahead>>);

struct Ahead {
    params: ListParams,
    at: Instant,
    page: oneshot::Receiver<Result<TextPage, StoreError>>,
}

/// How long a page read ahead may wait for its client.
const AHEAD_FRESH: Duration = Duration::from_secs(1);
/// Pages kept read ahead at most, for clients walking listings at the same time.
const AHEAD_KEPT: usize = 8;

impl ReadAhead {
    pub(super) fn take(
        &self,
        params: &ListParams,
    ) -> Option<oneshot::Receiver<Result<TextPage, StoreError>>> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.retain(|a| a.at.elapsed() < AHEAD_FRESH);
        let i = kept.iter().position(|a| &a.params == params)?;
        Some(kept.swap_remove(i).page)
    }

    pub(super) fn keep(
        &self,
        params: ListParams,
        page: oneshot::Receiver<Result<TextPage, StoreError>>,
    ) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= AHEAD_KEPT {
            kept.remove(0);
        }
        kept.push(Ahead {
            params,
            at: Instant::now(),
            page,
        });
    }
}
