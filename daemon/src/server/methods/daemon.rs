//! `daemon.status`, `daemon.shutdown` and `config.reload`.

use super::super::state::ServerState;
use genq_protocol::methods::{Empty, ReloadResult, ShutdownResult, StatusResult};
use genq_protocol::{JobState, PROTOCOL_VERSION, RpcError};
use std::sync::Arc;

pub async fn status(state: &Arc<ServerState>, _: Empty) -> Result<StatusResult, RpcError> {
    let mut jobs = state.engine.store().counts_by_state().await?;
    for s in JobState::ALL {
        jobs.entry(s.as_str().to_string()).or_insert(0);
    }
    let paths = state.engine.paths();
    Ok(StatusResult {
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").to_string(),
        protocol: PROTOCOL_VERSION,
        socket: state.socket.borrow().display().to_string(),
        db: paths.db.display().to_string(),
        uptime_s: state.started.elapsed().as_secs(),
        jobs,
        config_error: state.engine.config_error(),
        config: paths.config.display().to_string(),
        home: paths.home.as_ref().map(|h| h.display().to_string()),
        http: state.http.borrow().clone(),
    })
}

/// Replies first; the daemon then stops accepting, lets runners reach a waiting point,
/// and exits.
pub async fn shutdown(state: &Arc<ServerState>, _: Empty) -> Result<ShutdownResult, RpcError> {
    let token = state.shutdown.clone();
    tokio::spawn(async move {
        // Let the reply reach the client before connections close.
        tokio::task::yield_now().await;
        token.cancel();
    });
    Ok(ShutdownResult {
        pid: std::process::id(),
    })
}

/// Puts the config files on disk in force now, or says why they are not.
pub async fn reload(state: &Arc<ServerState>, _: Empty) -> Result<ReloadResult, RpcError> {
    state.engine.reload_config().await;
    Ok(ReloadResult {
        config_error: state.engine.config_error(),
    })
}
