//! Catalog reads: models with their parameters, capabilities, categories, suppliers and
//! LoRA cards, as the socket's catalog handlers give them.

use super::error::{ApiError, ApiQuery};
use super::state::Shared;
use crate::server::methods::catalog;
use axum::Json;
use axum::extract::State;
use genq_protocol::catalog::{
    Capability, Category, LoraCard, LoraPage, LoraRef, LoraSort, LoraSource, LorasListParams,
    Model, ModelsListParams, Supplier,
};
use genq_protocol::methods::Empty;
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ModelsQuery {
    /// Only this provider's models.
    pub provider: Option<String>,
    /// Only models with this capability (`text_to_image`, …).
    pub capability: Option<String>,
}

/// The catalog's models with their parameters and ranges.
#[utoipa::path(get, path = "/v1/catalog/models", tag = "catalog", operation_id = "catalog_models", params(ModelsQuery),
    responses((status = 200, description = "Models", body = Vec<Model>)),
    security(("bearer" = [])))]
pub async fn models(
    State(st): State<Shared>,
    ApiQuery(q): ApiQuery<ModelsQuery>,
) -> Result<Json<Vec<Model>>, ApiError> {
    let p = ModelsListParams {
        supplier: q.provider,
        capability: q.capability,
        include_removed: false,
    };
    Ok(Json(catalog::list(&st.server, p).await?))
}

/// Capabilities and their default models.
#[utoipa::path(get, path = "/v1/catalog/capabilities", tag = "catalog",
    responses((status = 200, description = "Capabilities", body = Vec<Capability>)),
    security(("bearer" = [])))]
pub async fn capabilities(State(st): State<Shared>) -> Result<Json<Vec<Capability>>, ApiError> {
    Ok(Json(catalog::capabilities(&st.server, Empty {}).await?))
}

/// The category tree, roots first.
#[utoipa::path(get, path = "/v1/catalog/categories", tag = "catalog",
    responses((status = 200, description = "Categories", body = Vec<Category>)),
    security(("bearer" = [])))]
pub async fn categories(State(st): State<Shared>) -> Result<Json<Vec<Category>>, ApiError> {
    Ok(Json(catalog::categories(&st.server, Empty {}).await?))
}

/// The suppliers (providers) of the catalog's models.
#[utoipa::path(get, path = "/v1/catalog/suppliers", tag = "catalog",
    responses((status = 200, description = "Suppliers", body = Vec<Supplier>)),
    security(("bearer" = [])))]
pub async fn suppliers(State(st): State<Shared>) -> Result<Json<Vec<Supplier>>, ApiError> {
    Ok(Json(catalog::suppliers(&st.server, Empty {}).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LorasQuery {
    /// `modelscope` (default), `civitai` or `huggingface`.
    pub source: Option<String>,
    /// The task the LoRAs are for (`text_to_image` by default).
    pub task: Option<String>,
    /// Only LoRAs for this base family.
    pub base: Option<String>,
    pub keyword: Option<String>,
    /// `downloads` (default), `likes`, `newest`.
    pub sort: Option<String>,
    /// 1 to 200; 20 when absent.
    pub limit: Option<u32>,
    /// 1-based.
    pub page: Option<u32>,
}

fn enum_param<T: serde::de::DeserializeOwned>(name: &str, value: &str) -> Result<T, ApiError> {
    serde_json::from_value(serde_json::Value::String(value.to_string()))
        .map_err(|e| ApiError::invalid(name, format!("{name}: {e}")))
}

/// LoRA cards from a source, cached for 10 minutes.
#[utoipa::path(get, path = "/v1/catalog/loras", tag = "catalog", params(LorasQuery),
    responses(
        (status = 200, description = "A page of LoRA cards", body = LoraPage),
        (status = 400, description = "A filter is invalid", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn loras(
    State(st): State<Shared>,
    ApiQuery(q): ApiQuery<LorasQuery>,
) -> Result<Json<LoraPage>, ApiError> {
    let mut p = LorasListParams::default();
    if let Some(s) = &q.source {
        p.source = enum_param::<LoraSource>("source", s)?;
    }
    if let Some(s) = &q.sort {
        p.sort = enum_param::<LoraSort>("sort", s)?;
    }
    if let Some(t) = q.task {
        p.task = t;
    }
    p.base = q.base;
    p.keyword = q.keyword;
    p.limit = q.limit;
    p.page = q.page;
    Ok(Json(catalog::loras_list(&st.server, p).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoraQuery {
    /// `owner/name` (ModelScope, Hugging Face) or `model@version` (Civitai).
    pub id: String,
    pub source: Option<String>,
}

/// One LoRA card.
#[utoipa::path(get, path = "/v1/catalog/lora", tag = "catalog", params(LoraQuery),
    responses(
        (status = 200, description = "The card", body = LoraCard),
        (status = 404, description = "No such LoRA", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn lora(
    State(st): State<Shared>,
    ApiQuery(q): ApiQuery<LoraQuery>,
) -> Result<Json<LoraCard>, ApiError> {
    let source = match &q.source {
        Some(s) => Some(enum_param::<LoraSource>("source", s)?),
        None => None,
    };
    let r = LoraRef { id: q.id, source };
    Ok(Json(catalog::loras_get(&st.server, r).await?))
}
