//! What every HTTP handler is given.

use super::signed::Signer;
use crate::server::ServerState;
use std::sync::Arc;

/// The socket server's state (engine, store, shutdown) and the link signer.
pub struct HttpState {
    pub server: Arc<ServerState>,
    pub signer: Signer,
}

pub type Shared = Arc<HttpState>;
