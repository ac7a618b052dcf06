//! `/healthz` and `/readyz`, without a token, for supervisors and load balancers.

use super::state::Shared;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// The daemon answers.
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The daemon is alive", body = Health)))]
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    /// `ok`, or why the database cannot be written.
    pub database: String,
    /// `ok`, or why the config on disk is not in force (the previous one is).
    pub config: String,
    /// Each provider and whether the daemon has a key for it.
    pub providers: BTreeMap<String, ProviderReadiness>,
}

#[derive(Serialize, ToSchema)]
pub struct ProviderReadiness {
    pub has_key: bool,
}

/// The database is writable, the config is valid; which providers have keys.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Not ready: the body says why", body = Readiness),
    ))]
pub async fn readyz(State(st): State<Shared>) -> (StatusCode, Json<Readiness>) {
    let engine = &st.server.engine;
    let database = match engine.store().check_writable().await {
        Ok(()) => "ok".to_string(),
        Err(e) => e.to_string(),
    };
    let config = engine.config_error().unwrap_or_else(|| "ok".to_string());
    let providers = engine
        .config()
        .providers
        .iter()
        .map(|(name, p)| {
            let has_key = p.key.is_some();
            (name.clone(), ProviderReadiness { has_key })
        })
        .collect();
    let ready = database == "ok" && config == "ok";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(Readiness {
            ready,
            database,
            config,
            providers,
        }),
    )
}
