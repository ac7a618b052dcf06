//! Extra connections to the daemon for calls that may take long (LoRA listings fetched from
//! the catalog site, cover downloads). The daemon answers one connection's requests in
//! order, so these run beside the main connection and never hold up the jobs screen.

use crate::client::{Client, ClientError, Endpoint};
use genq_protocol::Method;
use std::sync::Arc;
use tokio::sync::Mutex;

/// A connection made on first use and made again after it was lost.
#[derive(Clone)]
pub struct SideLink {
    endpoint: Endpoint,
    name: &'static str,
    slot: Arc<Mutex<Option<Client>>>,
}

impl SideLink {
    pub fn new(endpoint: Endpoint, name: &'static str) -> SideLink {
        SideLink {
            endpoint,
            name,
            slot: Arc::default(),
        }
    }

    /// Calls `M` on this connection, connecting first when needed (never starting the
    /// daemon: the main connection does that). A lost connection is dropped so the next
    /// call connects again.
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ClientError> {
        let client = {
            let mut slot = self.slot.lock().await;
            match slot.as_ref() {
                Some(c) => c.clone(),
                None => {
                    // Notifications are not wanted here; the receiver is dropped.
                    let (c, _notes) = self.endpoint.connect(self.name, false).await?;
                    *slot = Some(c.clone());
                    c
                }
            }
        };
        let result = client.call::<M>(params).await;
        if matches!(result, Err(ClientError::Disconnected)) {
            self.slot.lock().await.take();
        }
        result
    }
}
