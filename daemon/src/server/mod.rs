//! The local socket server: binds the socket safely (private directory never reached
//! through a link, `0600` socket, a stale socket removed only after connecting to it
//! failed), accepts connections within the [`admission`] cap, checks the peer's uid, and
//! runs a [`session`] per connection until shutdown.

mod accept;
mod admission;
mod methods;
mod session;

use crate::engine::Engine;
use accept::{Backoff, Throttle, WARN_EVERY, suppressed_note};
use admission::{Admission, Admit};
use genq_protocol::paths::UnsafeDir;
use genq_protocol::rpc::Response;
use genq_protocol::{ErrorKind, Paths, RpcError};
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::{Listener as _, Stream as _};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("socket directory {path}: {message}")]
    Dir { path: String, message: String },
    #[error(transparent)]
    Unsafe(#[from] UnsafeDir),
    #[error("another process is already answering on {0}")]
    InUse(String),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
}

/// Everything a session needs.
pub struct ServerState {
    pub engine: Engine,
    pub started: Instant,
    /// Cancelled to stop the daemon (`daemon.shutdown`, signals).
    pub shutdown: CancellationToken,
}

/// Creates the socket directory (`0700`, ours) and binds the socket (`0600`).
pub async fn bind(paths: &Paths) -> Result<Listener, ServerError> {
    let dir = paths.socket_dir();
    prepare_private_dir(dir)?;
    let path = &paths.socket;
    let shown = path.display().to_string();
    let fs_name = || {
        path.as_path()
            .to_fs_name::<GenericFilePath>()
            .map_err(|source| ServerError::Bind {
                path: shown.clone(),
                source,
            })
    };
    let existing = std::fs::symlink_metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !is_own_socket(m)) {
        // Planted while the directory was open to others, or not a socket at all: the
        // directory is ours now, so it goes.
        tracing::warn!("removing {shown}: not a socket of this user");
        let _ = std::fs::remove_file(path);
    } else if existing.is_some() {
        // Only a socket nobody answers on is stale.
        if Stream::connect(fs_name()?).await.is_ok() {
            return Err(ServerError::InUse(shown));
        }
        tracing::info!("removing stale socket {shown}");
        let _ = std::fs::remove_file(path);
    }
    let opts = ListenerOptions::new().name(fs_name()?).reclaim_name(true);
    #[cfg(unix)]
    let opts = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        opts.mode(0o600)
    };
    opts.create_tokio().map_err(|source| ServerError::Bind {
        path: shown,
        source,
    })
}

/// Whether a file (never followed if a link) is a socket owned by this user.
#[cfg(unix)]
fn is_own_socket(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_socket() && meta.uid() == nix::unistd::geteuid().as_raw()
}

#[cfg(not(unix))]
fn is_own_socket(_meta: &std::fs::Metadata) -> bool {
    true
}

/// Creates the socket directory `0700`, or makes an existing one of ours private again.
/// The directory is opened without following a link and changed through that handle, so
/// a link or a swap planted by someone else is refused, never followed.
#[cfg(unix)]
fn prepare_private_dir(dir: &Path) -> Result<(), ServerError> {
    use genq_protocol::paths::{DirFacts, DirProblem, check_socket_dir, inspect_socket_dir};
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{Mode, SFlag, fchmod, fstat};
    use std::os::unix::fs::DirBuilderExt;
    let me = nix::unistd::geteuid().as_raw();
    let err = |message: String| ServerError::Dir {
        path: dir.display().to_string(),
        message,
    };
    let unsafe_dir = |problem| {
        ServerError::Unsafe(UnsafeDir {
            path: dir.to_path_buf(),
            problem,
        })
    };
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| err(format!("cannot create its parent: {e}")))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(format!("cannot create it: {e}"))),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Say what is there: a link, a file, …
        Err(e) => {
            inspect_socket_dir(dir, me)?;
            return Err(err(format!("cannot open it: {e}")));
        }
    };
    let st = fstat(&fd).map_err(|e| err(e.to_string()))?;
    let facts = DirFacts {
        is_symlink: false,
        is_dir: SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR,
        uid: st.st_uid,
        mode: st.st_mode,
    };
    match check_socket_dir(&facts, me) {
        Ok(()) => Ok(()),
        Err(DirProblem::OpenToOthers { mode }) => {
            tracing::warn!("{} had mode {mode:04o}; making it 0700", dir.display());
            fchmod(&fd, Mode::from_bits_truncate(0o700))
                .map_err(|e| err(format!("cannot make it private (0700): {e}")))
        }
        Err(problem) => Err(unsafe_dir(problem)),
    }
}

#[cfg(not(unix))]
fn prepare_private_dir(dir: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(dir).map_err(|e| ServerError::Dir {
        path: dir.display().to_string(),
        message: e.to_string(),
    })
}

/// Accepts connections until shutdown, then waits for the sessions to close.
pub async fn serve(listener: Listener, state: Arc<ServerState>) {
    let open_files = admission::open_file_limit().unwrap_or(1024);
    let admission = Admission::new(admission::connection_cap(open_files));
    tracing::info!(
        max_connections = admission.cap(),
        open_files,
        "accepting connections"
    );
    let sessions = TaskTracker::new();
    let mut backoff = Backoff::default();
    let mut accept_warn = Throttle::new(WARN_EVERY);
    let mut full_warn = Throttle::new(WARN_EVERY);
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = state.shutdown.cancelled() => break,
        };
        let stream = match conn {
            Ok(s) => {
                backoff.succeeded();
                s
            }
            Err(e) => {
                let pause = backoff.failed();
                if let Some(left_out) = accept_warn.allow(Instant::now()) {
                    tracing::warn!(
                        "accept failed: {e}; pausing {} ms before the next{}",
                        pause.as_millis(),
                        suppressed_note(left_out)
                    );
                }
                tokio::select! {
                    _ = tokio::time::sleep(pause) => continue,
                    _ = state.shutdown.cancelled() => break,
                }
            }
        };
        if let Err(reason) = check_peer(&stream) {
            tracing::warn!("refused a connection: {reason}");
            drop(stream);
            continue;
        }
        let ticket = match admission.admit() {
            Admit::In(ticket) => ticket,
            Admit::InByEviction(ticket) => {
                if let Some(left_out) = full_warn.allow(Instant::now()) {
                    tracing::warn!(
                        "{} connections open, the most allowed: closed the oldest one that had \
                         not said hello{}",
                        admission.cap(),
                        suppressed_note(left_out)
                    );
                }
                ticket
            }
            Admit::Full => {
                if let Some(left_out) = full_warn.allow(Instant::now()) {
                    tracing::warn!(
                        "{} connections open, the most allowed: refused a new one{}",
                        admission.cap(),
                        suppressed_note(left_out)
                    );
                }
                refuse(stream, admission.cap()).await;
                continue;
            }
        };
        let state = state.clone();
        sessions.spawn(async move { session::run(stream, state, ticket).await });
    }
    sessions.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), sessions.wait()).await;
}

/// Tells a connection beyond the cap why it is closed, without waiting on it.
async fn refuse(mut stream: Stream, cap: usize) {
    let err = RpcError::new(
        ErrorKind::Busy,
        format!(
            "the daemon already has {cap} connections open, the most it allows; close other \
             genq clients and try again"
        ),
    );
    if let Ok(line) = serde_json::to_string(&Response::err(serde_json::Value::Null, err)) {
        let frame = format!("{line}\n");
        let _ = tokio::time::timeout(
            Duration::from_millis(100),
            stream.write_all(frame.as_bytes()),
        )
        .await;
    }
}

/// Only the user running the daemon may talk to it.
#[cfg(target_os = "linux")]
fn check_peer(stream: &Stream) -> Result<(), String> {
    use interprocess::local_socket::traits::StreamCommon;
    let creds = stream
        .peer_creds()
        .map_err(|e| format!("cannot read the peer's credentials: {e}"))?;
    peer_allowed(creds.euid(), nix::unistd::geteuid().as_raw())
}

#[cfg(not(target_os = "linux"))]
fn check_peer(_stream: &Stream) -> Result<(), String> {
    Ok(())
}

/// The rule behind [`check_peer`], separate so it can be tested without a second user.
pub fn peer_allowed(peer_uid: Option<u32>, own_uid: u32) -> Result<(), String> {
    match peer_uid {
        Some(uid) if uid == own_uid => Ok(()),
        Some(uid) => Err(format!("peer uid {uid} is not the daemon's uid {own_uid}")),
        None => Err("the peer's uid is unknown".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_uid_is_allowed() {
        assert!(peer_allowed(Some(1000), 1000).is_ok());
        assert!(peer_allowed(Some(0), 1000).unwrap_err().contains("uid 0"));
        assert!(peer_allowed(None, 1000).is_err());
    }
}
