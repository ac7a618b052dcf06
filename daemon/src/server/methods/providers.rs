//! `providers.list`: settings, load and quota per provider, without keys. Providers that can
//! report a balance are asked for it, all at once and briefly: a slow or failing provider
//! shows up as `last_error`, it never holds up the reply.

use super::super::state::ServerState;
use crate::providers::{ProviderError, QuotaInfo};
use genq_protocol::RpcError;
use genq_protocol::methods::{Empty, ProviderInfo};
use std::sync::Arc;
use std::time::Duration;

/// Longest wait for one provider's balance.
const QUOTA_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn list(state: &Arc<ServerState>, _: Empty) -> Result<Vec<ProviderInfo>, RpcError> {
    let engine = &state.engine;
    let config = engine.config();
    let registry = engine.registry();
    let names: Vec<&str> = registry
        .names()
        .filter(|n| config.providers.contains_key(*n))
        .collect();
    let quotas = futures::future::join_all(names.iter().map(|name| quota(state, name))).await;
    // Queued jobs wait in the database, so that is where they are counted.
    let queued = engine.queued_per_provider().await?;
    Ok(names
        .into_iter()
        .zip(quotas)
        .filter_map(|(name, asked)| {
            let settings = config.providers.get(name)?;
            let snap = engine
                .provider_limits(name)
                .map(|l| l.snapshot())
                .unwrap_or_default();
            let (fresh, quota_error) = match asked {
                Ok(q) => (q, None),
                Err(e) => (None, Some(e)),
            };
            // A fresh balance wins over figures remembered from reply headers.
            let quota = fresh.or(snap.quota);
            let last_error = match (snap.last_error, quota_error) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            Some(ProviderInfo {
                name: name.to_string(),
                provider_type: Some(settings.provider_type.clone()),
                base_url: settings.base_url.clone(),
                key_source: settings.key_source.to_string(),
                has_key: settings.key.is_some(),
                max_concurrent: settings.limits.max_concurrent,
                requests_per_second: settings.limits.requests_per_second,
                timeout_s: settings.limits.timeout.as_secs(),
                in_flight: snap.in_flight,
                queued: queued
                    .get(name)
                    .map_or(0, |&n| u32::try_from(n).unwrap_or(u32::MAX)),
                paused_for_s: snap.paused_for.map(|d| d.as_secs_f64()),
                quota_remaining: quota.as_ref().and_then(|q| q.remaining),
                quota_detail: quota.and_then(|q| q.detail),
                last_error,
            })
        })
        .collect())
}

/// The provider's balance, when it reports one and a key is configured; an error message
/// (never containing the key) when asking failed or took too long.
async fn quota(state: &Arc<ServerState>, name: &str) -> Result<Option<QuotaInfo>, String> {
    let engine = &state.engine;
    let registry = engine.registry();
    let (Some(provider), Some(ctx)) = (registry.get(name), engine.call_context(name)) else {
        return Ok(None);
    };
    if ctx.key.is_none() {
        return Ok(None);
    }
    match tokio::time::timeout(QUOTA_TIMEOUT, provider.quota(&ctx)).await {
        Ok(Ok(Some(q))) => {
            if let Some(limits) = engine.provider_limits(name) {
                limits.record_quota(q.clone());
            }
            Ok(Some(q))
        }
        Ok(Ok(None)) => Ok(None),
        Ok(Err(ProviderError { message, .. })) => Err(format!("quota: {message}")),
        Err(_) => Err(format!(
            "quota: no answer within {} s",
            QUOTA_TIMEOUT.as_secs()
        )),
    }
}
