//! Request bodies are read whole, up to a size and within a time, before any handler runs:
//! a client that sends too much or too slowly is answered and let go.

use super::error::ApiError;
use axum::body::Body;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// Largest request body: a job spec or an image request is a few KiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// How long a client may take to send its body.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a client may take to send its request headers (and may idle between requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

pub async fn read_body(req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                format!("the request body is over {MAX_BODY_BYTES} bytes, or was cut off"),
            )
            .code("body_too_large")
            .into_response();
        }
        Err(_) => {
            return ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "invalid_request_error",
                format!(
                    "the request body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            )
            .code("body_timeout")
            .into_response();
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
