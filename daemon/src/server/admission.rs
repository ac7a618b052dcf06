//! Who gets a connection: at most a fixed number at once, sized from the open-file limit
//! so that connections can never take the descriptors jobs need. When the daemon is full,
//! the connection that has waited longest without saying hello makes room; a daemon whose
//! connections have all said hello refuses the newcomer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio_util::sync::CancellationToken;

/// Most connections the daemon keeps open, whatever the open-file limit.
pub const MAX_CONNECTIONS: usize = 512;
/// Fewest, even under a tiny open-file limit.
const MIN_CONNECTIONS: usize = 8;

/// The connection cap for an open-file limit: half the descriptors stay for the database,
/// the log, downloads and provider connections.
pub fn connection_cap(open_files: u64) -> usize {
    let half = usize::try_from(open_files / 2).unwrap_or(usize::MAX);
    half.clamp(MIN_CONNECTIONS, MAX_CONNECTIONS)
}

/// The process's soft open-file limit, when the platform tells.
pub fn open_file_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit};
        getrlimit(Resource::RLIMIT_NOFILE)
            .ok()
            .map(|(soft, _)| soft)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

pub struct Admission {
    cap: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    open: usize,
    /// Connections that have not said hello yet, oldest first.
    waiting: VecDeque<(u64, CancellationToken)>,
    next_id: u64,
}

/// What became of a new connection.
pub enum Admit {
    In(Ticket),
    /// Admitted in place of the oldest connection still waiting for its hello.
    InByEviction(Ticket),
    /// Every slot is held by a connection that said hello.
    Full,
}

/// A connection's slot; dropping it frees the slot.
pub struct Ticket {
    id: u64,
    admission: Arc<Admission>,
    evicted: CancellationToken,
}

impl Admission {
    pub fn new(cap: usize) -> Arc<Admission> {
        Arc::new(Admission {
            cap: cap.max(1),
            inner: Mutex::new(Inner::default()),
        })
    }

    pub fn cap(&self) -> usize {
        self.cap
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The state stays consistent even if a holder panicked: every update is one step.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn admit(self: &Arc<Self>) -> Admit {
        let mut inner = self.lock();
        let evicted = if inner.open < self.cap {
            inner.open += 1;
            false
        } else if let Some((_, oldest)) = inner.waiting.pop_front() {
            // Its slot passes to the newcomer; its session sees the token and closes.
            oldest.cancel();
            true
        } else {
            return Admit::Full;
        };
        let id = inner.next_id;
        inner.next_id += 1;
        let token = CancellationToken::new();
        inner.waiting.push_back((id, token.clone()));
        let ticket = Ticket {
            id,
            admission: self.clone(),
            evicted: token,
        };
        if evicted {
            Admit::InByEviction(ticket)
        } else {
            Admit::In(ticket)
        }
    }

    #[cfg(test)]
    fn open(&self) -> usize {
        self.lock().open
    }
}

impl Ticket {
    /// Marks the connection as greeted, so it is never evicted. `false` when it already was.
    pub fn greeted(&self) -> bool {
        let mut inner = self.admission.lock();
        if self.evicted.is_cancelled() {
            return false;
        }
        inner.waiting.retain(|(id, _)| *id != self.id);
        true
    }

    /// Resolves when a newcomer took this connection's slot.
    pub async fn evicted(&self) {
        self.evicted.cancelled().await
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut inner = self.admission.lock();
        // An evicted ticket's slot already belongs to the connection that evicted it.
        if !self.evicted.is_cancelled() {
            inner.open = inner.open.saturating_sub(1);
            inner.waiting.retain(|(id, _)| *id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(a: Admit) -> Ticket {
        match a {
            Admit::In(t) | Admit::InByEviction(t) => t,
            Admit::Full => panic!("refused"),
        }
    }

    #[test]
    fn the_cap_follows_the_open_file_limit_within_bounds() {
        assert_eq!(connection_cap(256), 128);
        assert_eq!(connection_cap(1024), MAX_CONNECTIONS);
        assert_eq!(connection_cap(1 << 40), MAX_CONNECTIONS);
        assert_eq!(connection_cap(4), MIN_CONNECTIONS);
    }

    #[test]
    fn a_full_daemon_evicts_the_oldest_silent_connection_and_never_a_greeted_one() {
        let a = Admission::new(2);
        let greeted = ticket(a.admit());
        assert!(greeted.greeted());
        let silent = ticket(a.admit());
        let newcomer = match a.admit() {
            Admit::InByEviction(t) => t,
            _ => panic!("no eviction"),
        };
        assert!(silent.evicted.is_cancelled());
        assert!(!silent.greeted(), "an evicted connection cannot say hello");
        drop(silent);
        assert_eq!(a.open(), 2);
        assert!(newcomer.greeted());
        assert!(matches!(a.admit(), Admit::Full));
        drop(greeted);
        assert_eq!(a.open(), 1);
        assert!(matches!(a.admit(), Admit::In(_)));
        drop(newcomer);
        assert_eq!(a.open(), 0);
    }
}
