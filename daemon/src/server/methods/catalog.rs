//! `models.*`, `suppliers.list`, `categories.list`, `capabilities.list` and `loras.*`.

use super::super::state::ServerState;
use crate::catalog::entry_checks::{check_edit, check_input};
use crate::catalog::loras::{self, CatalogError, LoraContext};
use crate::secret::Secret;
use genq_protocol::catalog::{
    Capability, Category, LoraCard, LoraPage, LoraRef, LorasListParams, Model, ModelEdit,
    ModelInput, ModelRef, ModelsListParams, SetDefaultParams, Supplier,
};
use genq_protocol::methods::Empty;
use genq_protocol::{ErrorKind, RpcError};
use std::sync::Arc;

fn invalid(e: crate::providers::InvalidParam) -> RpcError {
    RpcError::invalid_params(
        e.field.clone(),
        format!("{}: {}", e.field, e.message),
        e.allowed,
    )
}

pub async fn list(state: &Arc<ServerState>, p: ModelsListParams) -> Result<Vec<Model>, RpcError> {
    Ok(state.engine.store().list_models(p).await?)
}

pub async fn get(state: &Arc<ServerState>, p: ModelRef) -> Result<Model, RpcError> {
    Ok(state.engine.store().get_model(p.model).await?)
}

pub async fn add(state: &Arc<ServerState>, mut p: ModelInput) -> Result<Model, RpcError> {
    check_input(&mut p).map_err(invalid)?;
    Ok(state.engine.store().add_model(p).await?)
}

pub async fn edit(state: &Arc<ServerState>, p: ModelEdit) -> Result<Model, RpcError> {
    check_edit(&p).map_err(invalid)?;
    Ok(state.engine.store().edit_model(p).await?)
}

pub async fn remove(state: &Arc<ServerState>, p: ModelRef) -> Result<Model, RpcError> {
    set_removed(state, p, true).await
}

pub async fn restore(state: &Arc<ServerState>, p: ModelRef) -> Result<Model, RpcError> {
    set_removed(state, p, false).await
}

async fn set_removed(
    state: &Arc<ServerState>,
    p: ModelRef,
    removed: bool,
) -> Result<Model, RpcError> {
    Ok(state
        .engine
        .store()
        .set_model_removed(p.model, removed)
        .await?)
}

pub async fn set_default(state: &Arc<ServerState>, p: SetDefaultParams) -> Result<Model, RpcError> {
    Ok(state
        .engine
        .store()
        .set_default_model(p.model, p.capability)
        .await?)
}

pub async fn suppliers(state: &Arc<ServerState>, _: Empty) -> Result<Vec<Supplier>, RpcError> {
    let mut suppliers = state.engine.store().suppliers().await?;
    // A provider instance taken out of the config keeps its catalog rows (its jobs name
    // them) but is offered no more.
    let config = state.engine.config();
    for s in &mut suppliers {
        s.active &= config.providers.contains_key(&s.name);
    }
    Ok(suppliers)
}

pub async fn categories(state: &Arc<ServerState>, _: Empty) -> Result<Vec<Category>, RpcError> {
    Ok(state.engine.store().categories().await?)
}

pub async fn capabilities(state: &Arc<ServerState>, _: Empty) -> Result<Vec<Capability>, RpcError> {
    Ok(state.engine.store().capabilities().await?)
}

fn lora_context(state: &Arc<ServerState>) -> LoraContext {
    let engine = &state.engine;
    let config = engine.config();
    let sites = config.catalog.clone();
    // The configured sites serve covers too (mirrors, test servers).
    let extra_hosts = [
        &sites.modelscope_base_url,
        &sites.civitai_base_url,
        &sites.huggingface_base_url,
    ]
    .into_iter()
    .filter_map(|url| url.split_once("://"))
    .filter_map(|(_, rest)| rest.split('/').next())
    .map(str::to_string)
    .collect();
    let env_key = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|k| !k.trim().is_empty())
            .map(|k| Secret::new(k.trim()))
    };
    LoraContext {
        store: engine.store().clone(),
        sites,
        extra_hosts,
        key: config
            .providers
            .get("modelscope")
            .and_then(|p| p.key.clone()),
        civitai_key: env_key("CIVITAI_API_KEY"),
        huggingface_key: env_key("HF_TOKEN"),
        cache_dir: engine.paths().cache.clone(),
        ttl: loras::TTL,
    }
}

pub async fn loras_list(
    state: &Arc<ServerState>,
    p: LorasListParams,
) -> Result<LoraPage, RpcError> {
    Ok(loras::list(&lora_context(state), p).await?)
}

/// `loras.refresh`: a listing that skips the cache.
pub async fn loras_refresh(
    state: &Arc<ServerState>,
    p: LorasListParams,
) -> Result<LoraPage, RpcError> {
    loras_list(
        state,
        LorasListParams {
            force_refresh: true,
            ..p
        },
    )
    .await
}

pub async fn loras_get(state: &Arc<ServerState>, p: LoraRef) -> Result<LoraCard, RpcError> {
    let source = p.source();
    loras::detail(&lora_context(state), source, &p.id)
        .await?
        .ok_or_else(|| {
            RpcError::new(
                ErrorKind::NotFound,
                format!("no LoRA {:?} at {source}", p.id),
            )
        })
}

impl From<CatalogError> for RpcError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::Invalid {
                field,
                message,
                allowed,
            } => RpcError::invalid_params(field, format!("{field}: {message}"), allowed),
            CatalogError::Store(s) => s.into(),
            e @ CatalogError::Network { .. } => RpcError::new(ErrorKind::Network, e.to_string()),
            e @ CatalogError::Timeout { .. } => RpcError::new(ErrorKind::Timeout, e.to_string()),
            e @ CatalogError::Auth { .. } => RpcError::new(ErrorKind::Auth, e.to_string()),
            other => RpcError::new(ErrorKind::Other, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_failures_keep_a_kind_a_client_can_explain() {
        let kind = |e: CatalogError| RpcError::from(e).kind();
        let url = "https://modelscope.cn/api/v1/dolphin/models".to_string();
        assert_eq!(
            kind(CatalogError::Network {
                url: url.clone(),
                message: "connection refused".into()
            }),
            ErrorKind::Network
        );
        assert_eq!(
            kind(CatalogError::Timeout { url, secs: 20 }),
            ErrorKind::Timeout
        );
        let auth = RpcError::from(CatalogError::Auth {
            status: 401,
            hint: "set a ModelScope key",
        });
        assert_eq!(auth.kind(), ErrorKind::Auth);
        assert!(
            auth.message.contains("(401); set a ModelScope key"),
            "{auth}"
        );
        assert_eq!(
            kind(CatalogError::Source("HTTP 500".into())),
            ErrorKind::Other
        );
    }
}
