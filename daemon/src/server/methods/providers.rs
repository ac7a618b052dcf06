//! `providers.list`: settings, load and quota per provider, without keys.

use super::super::ServerState;
use genq_protocol::RpcError;
use genq_protocol::methods::ProviderInfo;
use std::sync::Arc;

pub fn list(state: &Arc<ServerState>) -> Result<Vec<ProviderInfo>, RpcError> {
    let engine = &state.engine;
    let config = engine.config();
    Ok(engine
        .registry()
        .names()
        .filter_map(|name| {
            let settings = config.providers.get(name)?;
            let snap = engine
                .provider_limits(name)
                .map(|l| l.snapshot())
                .unwrap_or_default();
            Some(ProviderInfo {
                name: name.to_string(),
                base_url: settings.base_url.clone(),
                key_source: settings.key_source.to_string(),
                has_key: settings.key.is_some(),
                max_concurrent: settings.limits.max_concurrent,
                requests_per_second: settings.limits.requests_per_second,
                timeout_s: settings.limits.timeout.as_secs(),
                in_flight: snap.in_flight,
                queued: snap.queued,
                paused_for_s: snap.paused_for.map(|d| d.as_secs_f64()),
                quota_remaining: snap.quota.as_ref().and_then(|q| q.remaining),
                quota_detail: snap.quota.and_then(|q| q.detail),
                last_error: snap.last_error,
            })
        })
        .collect())
}
