//! The accept loop: connections within the [`admission`](super::admission) cap, from the
//! daemon's own user only, each run as a session until shutdown.

use super::accept::{Backoff, Throttle, WARN_EVERY, suppressed_note};
use super::admission::{self, Admission, Admit};
use super::keeper::SocketKeeper;
use super::session;
use super::state::ServerState;
use genq_protocol::rpc::Response;
use genq_protocol::{ErrorKind, RpcError};
use interprocess::local_socket::tokio::Stream;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio_util::task::TaskTracker;

/// Accepts connections until shutdown, then waits for the sessions to close.
pub async fn serve(mut socket: SocketKeeper, state: Arc<ServerState>) {
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
            c = socket.accept() => c,
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
