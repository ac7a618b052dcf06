//! What every session shares.

use crate::batch::Batches;
use crate::engine::Engine;
use std::path::PathBuf;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Everything a session needs.
pub struct ServerState {
    pub engine: Engine,
    pub batches: Batches,
    pub started: Instant,
    /// Cancelled to stop the daemon (`daemon.shutdown`, signals).
    pub shutdown: CancellationToken,
    /// Where the socket is now: it moves when its directory vanishes.
    pub socket: tokio::sync::watch::Receiver<PathBuf>,
    /// Where the HTTP API listens now, when it is on.
    pub http: tokio::sync::watch::Receiver<Option<String>>,
}
