//! The `batch.*` methods.

use super::super::state::ServerState;
use crate::batch::{BatchError, Origin};
use genq_protocol::RpcError;
use genq_protocol::batch::{BatchDetail, BatchInfo, BatchPlan, BatchRef, BatchSubmitParams};
use genq_protocol::methods::Empty;
use std::sync::Arc;

impl From<BatchError> for RpcError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::BadRequest(b) => {
                RpcError::invalid_params(b.field.clone(), b.to_string(), None)
            }
            BatchError::Store(e) => e.into(),
            BatchError::Engine(e) => e.into(),
        }
    }
}

pub async fn submit(state: &Arc<ServerState>, p: BatchSubmitParams) -> Result<BatchPlan, RpcError> {
    let origin = Origin {
        source: "cli",
        key: None,
    };
    Ok(state.batches.submit(p, origin).await?)
}

pub async fn list(state: &Arc<ServerState>, _: Empty) -> Result<Vec<BatchInfo>, RpcError> {
    Ok(state.engine.store().list_batches().await?)
}

pub async fn get(state: &Arc<ServerState>, p: BatchRef) -> Result<BatchDetail, RpcError> {
    let store = state.engine.store();
    let batch = store.batch_info(p.id).await?;
    let rows = store.batch_rows(p.id).await?;
    Ok(BatchDetail { batch, rows })
}

pub async fn cancel(state: &Arc<ServerState>, p: BatchRef) -> Result<BatchInfo, RpcError> {
    Ok(state.batches.cancel(p.id).await?)
}

pub async fn retry(state: &Arc<ServerState>, p: BatchRef) -> Result<BatchInfo, RpcError> {
    Ok(state.batches.retry(p.id).await?)
}
