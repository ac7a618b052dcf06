//! The local socket server: binds the socket safely (private directory, `0600` socket, a
//! stale socket removed only after connecting to it failed), accepts connections, checks
//! the peer's uid, and runs a [`session`] per connection until shutdown.

mod methods;
mod session;

use crate::engine::Engine;
use genq_protocol::Paths;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::{Listener as _, Stream as _};
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("socket directory {path}: {message}")]
    Dir { path: String, message: String },
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
    if path.exists() {
        // Only a socket nobody answers on is stale.
        let name = path
            .as_path()
            .to_fs_name::<GenericFilePath>()
            .map_err(|source| ServerError::Bind {
                path: shown.clone(),
                source,
            })?;
        if Stream::connect(name).await.is_ok() {
            return Err(ServerError::InUse(shown));
        }
        tracing::info!("removing stale socket {shown}");
        let _ = std::fs::remove_file(path);
    }
    let name = path
        .as_path()
        .to_fs_name::<GenericFilePath>()
        .map_err(|source| ServerError::Bind {
            path: shown.clone(),
            source,
        })?;
    let opts = ListenerOptions::new().name(name).reclaim_name(true);
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

#[cfg(unix)]
fn prepare_private_dir(dir: &Path) -> Result<(), ServerError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let err = |message: String| ServerError::Dir {
        path: dir.display().to_string(),
        message,
    };
    std::fs::create_dir_all(dir).map_err(|e| err(format!("cannot create it: {e}")))?;
    let meta = std::fs::metadata(dir).map_err(|e| err(e.to_string()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(err(format!(
            "is owned by uid {}, not by you (uid {me}); refusing to put the socket there",
            meta.uid()
        )));
    }
    if meta.permissions().mode() & 0o777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| err(format!("cannot make it private (0700): {e}")))?;
    }
    Ok(())
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
    let sessions = TaskTracker::new();
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = state.shutdown.cancelled() => break,
        };
        let stream = match conn {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                continue;
            }
        };
        if let Err(reason) = check_peer(&stream) {
            tracing::warn!("refused a connection: {reason}");
            drop(stream);
            continue;
        }
        let state = state.clone();
        sessions.spawn(async move { session::run(stream, state).await });
    }
    sessions.close();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), sessions.wait()).await;
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
