//! The one list of routes. The OpenAPI document is generated from the same list and the
//! handlers' annotations, so a route cannot be served without being documented.

use super::state::Shared;
use super::{auth, catalog, events, files, health, jobs, limits, openai};
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json, Router, middleware};
use std::sync::OnceLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "genq",
        description = "genq's job queue over HTTP: an OpenAI-compatible image endpoint and a \
                       REST job API. Every route but health, this document and signed file \
                       links needs `Authorization: Bearer <token>` (`genq token create NAME`)."
    ),
    modifiers(&BearerScheme)
)]
struct ApiDoc;

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let scheme =
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build());
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

fn api_router() -> OpenApiRouter<Shared> {
    let open = OpenApiRouter::new()
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(files::signed));
    let guarded = OpenApiRouter::new()
        .routes(routes!(openai::generate))
        .routes(routes!(openai::models))
        .routes(routes!(jobs::submit, jobs::list))
        .routes(routes!(jobs::get))
        .routes(routes!(jobs::cancel))
        .routes(routes!(jobs::retry))
        .routes(routes!(jobs::events))
        .routes(routes!(files::output))
        .routes(routes!(events::events))
        .routes(routes!(catalog::models))
        .routes(routes!(catalog::capabilities))
        .routes(routes!(catalog::categories))
        .routes(routes!(catalog::suppliers))
        .routes(routes!(catalog::loras))
        .routes(routes!(catalog::lora))
        .route_layer(middleware::from_fn(auth::require_token));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(open)
        .merge(guarded)
}

/// The OpenAPI 3.1 document of every route the API serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    static DOC: OnceLock<utoipa::openapi::OpenApi> = OnceLock::new();
    DOC.get_or_init(|| {
        let (_, mut doc) = api_router().split_for_parts();
        doc.info.version = env!("CARGO_PKG_VERSION").to_string();
        doc
    })
    .clone()
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = serde_json::Value)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}

/// The routes with their limits, ready to serve.
pub fn router(state: Shared) -> Router {
    let (router, _) = api_router().split_for_parts();
    router
        .fallback(unknown_route)
        .layer(middleware::from_fn(limits::read_body))
        .layer(Extension(state.clone()))
        .with_state(state)
}

async fn unknown_route(req: Request) -> Response {
    super::error::ApiError::not_found(format!(
        "Invalid URL ({} {}); see GET /openapi.json",
        req.method(),
        req.uri().path()
    ))
    .into_response()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_is_openapi_3_1_with_the_bearer_scheme() {
        let doc = serde_json::to_value(super::openapi_document()).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert!(doc["components"]["schemas"]["Job"].is_object());
        assert!(doc["paths"]["/v1/images/generations"]["post"].is_object());
    }
}
