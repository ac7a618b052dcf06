//! Keeps the daemon findable: the runtime directory holding the socket can vanish under a
//! running daemon (systemd-logind removes `$XDG_RUNTIME_DIR` at logout, tmp cleaners empty
//! `/tmp`). Every [`CHECK_EVERY`] the socket's path is compared with the socket bound; when it
//! is gone or replaced, the socket is bound again at its usual place, made again with the
//! same rules, or else beside the lock ([`Paths::home_socket`]), and the lock's record is
//! updated so that clients find it.
//!
//! A slow periodic check rather than a file watch: the removal comes from outside, often as
//! a whole filesystem unmounted, where a watch dies with the directory it watched and has to
//! be set up again on a parent that may not exist; one `lstat` every few seconds costs
//! nothing, and a client arriving meanwhile reads the record and waits for the socket.

use super::socket::bind;
use crate::lock::DaemonLock;
use genq_protocol::Paths;
use genq_protocol::daemon_record::DaemonRecord;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::Listener as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often the socket's path is checked.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The listening socket, bound again whenever its path stops leading to it.
pub struct SocketKeeper {
    listener: Option<Listener>,
    /// Device and inode of the socket bound, to tell it from a file put in its place.
    bound: Option<(u64, u64)>,
    path: PathBuf,
    paths: Paths,
    lock: Arc<DaemonLock>,
    /// What the lock file says about this daemon; the socket changes when it moves.
    record: DaemonRecord,
    check: tokio::time::Interval,
    /// Whether the loss was logged: once per loss, not every check.
    told: bool,
    /// Where it listens, for `daemon.status`.
    listening: tokio::sync::watch::Sender<PathBuf>,
}

impl SocketKeeper {
    /// Takes over a socket just bound at `paths.socket`, which `record` names.
    pub fn new(
        listener: Listener,
        paths: Paths,
        lock: Arc<DaemonLock>,
        record: DaemonRecord,
    ) -> SocketKeeper {
        let path = paths.socket.clone();
        let paths_socket = path.clone();
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        SocketKeeper {
            listener: Some(listener),
            bound: file_id(&path),
            path,
            paths,
            lock,
            record,
            check,
            told: false,
            listening: tokio::sync::watch::Sender::new(paths_socket),
        }
    }

    /// Where the socket is, kept current when it moves.
    pub fn listening(&self) -> tokio::sync::watch::Receiver<PathBuf> {
        self.listening.subscribe()
    }

    /// The next connection; checks the socket's place meanwhile.
    pub async fn accept(&mut self) -> std::io::Result<Stream> {
        loop {
            let accepted = tokio::select! {
                c = accept_on(self.listener.as_ref()) => Some(c),
                _ = self.check.tick() => None,
            };
            match accepted {
                Some(conn) => return conn,
                None => self.keep_in_place().await,
            }
        }
    }

    async fn keep_in_place(&mut self) {
        if self.listener.is_some() && self.bound.is_some() && file_id(&self.path) == self.bound {
            return;
        }
        if !self.told {
            tracing::warn!(
                "the socket {} is gone (its directory was removed?); listening again",
                self.path.display()
            );
            self.told = true;
        }
        if let Some(mut old) = self.listener.take() {
            // Whatever is at the old path now is not ours to remove.
            old.do_not_reclaim_name_on_drop();
        }
        let home = self.paths.home_socket(nix::unistd::geteuid().as_raw());
        for place in [self.paths.socket.clone(), home] {
            let mut paths = self.paths.clone();
            paths.socket = place.clone();
            match bind(&paths).await {
                Ok(listener) => return self.listen_at(listener, place),
                Err(e) => tracing::debug!("cannot listen on {}: {e}", place.display()),
            }
        }
    }

    fn listen_at(&mut self, listener: Listener, place: PathBuf) {
        self.listener = Some(listener);
        self.bound = file_id(&place);
        self.told = false;
        tracing::info!(socket = %place.display(), "listening again");
        self.record.socket = Some(place.clone());
        if let Err(e) = self.lock.record(&self.record) {
            tracing::warn!("clients may not find the daemon: {e}");
        }
        self.listening.send_replace(place.clone());
        self.path = place;
    }
}

async fn accept_on(listener: Option<&Listener>) -> std::io::Result<Stream> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Device and inode of the file at `path`, never following a link.
#[cfg(unix)]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(path).ok()?;
    Some((meta.dev(), meta.ino()))
}

#[cfg(not(unix))]
fn file_id(path: &Path) -> Option<(u64, u64)> {
    path.exists().then_some((0, 0))
}
