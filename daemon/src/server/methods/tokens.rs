//! `tokens.*`: the HTTP API's bearer tokens.

use super::super::state::ServerState;
use crate::store::new_token;
use genq_protocol::RpcError;
use genq_protocol::methods::{Empty, TokenCreated, TokenInfo, TokenName};
use std::sync::Arc;

pub async fn create(state: &Arc<ServerState>, p: TokenName) -> Result<TokenCreated, RpcError> {
    let (token, hash) = new_token();
    let info = state.engine.store().add_token(p.name, hash).await?;
    tracing::info!(name = %info.name, "HTTP token created");
    Ok(TokenCreated {
        name: info.name,
        token,
        created_at: info.created_at,
    })
}

pub async fn list(state: &Arc<ServerState>, _: Empty) -> Result<Vec<TokenInfo>, RpcError> {
    Ok(state.engine.store().list_tokens().await?)
}

pub async fn remove(state: &Arc<ServerState>, p: TokenName) -> Result<TokenInfo, RpcError> {
    let info = state.engine.store().remove_token(p.name).await?;
    tracing::info!(name = %info.name, "HTTP token removed");
    Ok(info)
}
