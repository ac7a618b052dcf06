//! Errors in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, with the
//! status the OpenAI SDKs map to their exception classes. The REST routes use the same
//! shape, so a client reads every error one way.

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use genq_protocol::{ErrorKind, JobError, JobErrorKind, RpcError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use utoipa::ToSchema;

/// The body of every error reply.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub message: String,
    /// `invalid_request_error`, `authentication_error`, `rate_limit_error`,
    /// `provider_error`, `timeout_error`, `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault, when one is.
    pub param: Option<String>,
    pub code: Option<String>,
}

/// An error reply.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: Box<ErrorDetail>,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
    /// The job the request made, when it made one (`x-request-id`).
    pub job_id: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            detail: Box::new(ErrorDetail {
                message: message.into(),
                kind,
                param: None,
                code: None,
            }),
            retry_after: None,
            job_id: None,
        }
    }

    pub fn code(mut self, code: impl Into<String>) -> ApiError {
        self.detail.code = Some(code.into());
        self
    }

    pub fn param(mut self, param: impl Into<String>) -> ApiError {
        self.detail.param = Some(param.into());
        self
    }

    /// 400 naming the field.
    pub fn invalid(param: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).param(param)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
            .code("invalid_api_key")
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "invalid_request_error", message).code("not_found")
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", message)
    }

    /// What a finished job's failure means to an OpenAI client.
    pub fn from_job_error(e: &JobError, retry_after: Option<u64>) -> ApiError {
        let msg = e.to_string();
        let code = e.kind.as_str();
        match e.kind {
            JobErrorKind::InvalidParams => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", msg).code(code)
            }
            JobErrorKind::ContentPolicy => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_request_error", msg)
                    .code("content_policy_violation")
            }
            JobErrorKind::Quota => {
                let mut q = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", msg)
                    .code("rate_limit_exceeded");
                q.retry_after = Some(retry_after.unwrap_or(60));
                q
            }
            JobErrorKind::InsufficientCredits => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "insufficient_quota", msg)
                    .code("insufficient_quota")
            }
            JobErrorKind::Timeout => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout_error", msg).code(code)
            }
            _ => ApiError::new(StatusCode::BAD_GATEWAY, "provider_error", msg).code(code),
        }
    }
}

/// The protocol's errors (the socket handlers' replies) as HTTP statuses. A field under
/// `spec.` is named as the HTTP body names it.
impl From<RpcError> for ApiError {
    fn from(e: RpcError) -> ApiError {
        let message = e.to_string();
        let (status, kind, code) = match e.kind() {
            ErrorKind::InvalidParams | ErrorKind::InvalidRequest | ErrorKind::ParseError => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "invalid_value",
            ),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "invalid_request_error", "not_found"),
            ErrorKind::Ambiguous => (
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "ambiguous",
            ),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "invalid_request_error", "conflict"),
            ErrorKind::Auth => (
                StatusCode::BAD_GATEWAY,
                "provider_error",
                "provider_key_missing",
            ),
            ErrorKind::Busy => (StatusCode::TOO_MANY_REQUESTS, "rate_limit_error", "busy"),
            ErrorKind::Timeout => (StatusCode::GATEWAY_TIMEOUT, "timeout_error", "timeout"),
            ErrorKind::ShuttingDown => (
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "shutting_down",
            ),
            _ => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                "internal",
            ),
        };
        let mut out = ApiError::new(status, kind, message).code(code);
        if let Some(field) = e.field().filter(|f| !f.is_empty()) {
            out = out.param(field.strip_prefix("spec.").unwrap_or(field));
        }
        out
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let spent = self.detail.code.as_deref() == Some("insufficient_quota");
        let mut resp = (
            status,
            Json(ErrorBody {
                error: *self.detail,
            }),
        )
            .into_response();
        let headers = resp.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        // A 5xx about a job that may have been billed must not be sent again by a client's
        // automatic retry (the job is still there to look at), nor a request no credits
        // can pay for.
        if status.is_server_error() || spent {
            headers.insert("x-should-retry", HeaderValue::from_static("false"));
        }
        if let Some(id) = self.job_id.and_then(|id| HeaderValue::from_str(&id).ok()) {
            headers.insert("x-request-id", id);
        }
        resp
    }
}

/// A query string, read as `Query` reads it; one axum could not read is a 400 naming what
/// it could.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let q = Query::<T>::from_request_parts(parts, state).await;
        q.map(|Query(v)| ApiQuery(v)).map_err(|e| {
            let text = e.body_text();
            let field = text.split('`').nth(1).unwrap_or_default().to_string();
            ApiError::invalid(&field, format!("query: {text}"))
        })
    }
}

/// The path's parameters, read as `Path` reads them; a path axum could not read (an output
/// number that is not a number) is a 400.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let p = Path::<T>::from_request_parts(parts, state).await;
        p.map(|Path(v)| ApiPath(v))
            .map_err(|e| ApiError::invalid("path", format!("path: {}", e.body_text())))
    }
}
