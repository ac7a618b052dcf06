//! Bearer tokens: every protected route passes through [`require_token`].

use super::error::ApiError;
use super::state::Shared;
use crate::store::hash_token;
use axum::Extension;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Lets the request through when it carries a token the store knows.
pub async fn require_token(Extension(st): Extension<Shared>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = given else {
        return ApiError::unauthorized(
            "no bearer token: send `Authorization: Bearer <token>` (make one with `genq token \
             create NAME`)",
        )
        .into_response();
    };
    match st.server.engine.store().use_token(hash_token(token)).await {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => ApiError::unauthorized(
            "incorrect API key provided: no such token (see `genq token list`)",
        )
        .into_response(),
        Err(e) => {
            tracing::error!("cannot check a token: {e}");
            ApiError::internal("cannot check the token: the database is unavailable")
                .into_response()
        }
    }
}
