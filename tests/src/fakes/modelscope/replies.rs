//! ModelScope's reply shapes: the `errors` envelope and the 429 with its rate-limit headers
//! (providers.md §1.5).

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;

use crate::fakes::common::{json_reply, new_request_id, set_header, with_retry_after};

/// Message of every ModelScope 429.
pub const LIMIT_EXCEEDED: &str = "Request limit exceeded.";

/// The daily call counts a reply reports in its rate-limit headers.
#[derive(Debug, Clone, Copy)]
pub(super) struct Quota {
    pub user_limit: u32,
    pub user_left: u32,
    pub model_limit: u32,
    pub model_left: u32,
}

impl Quota {
    /// The four `modelscope-ratelimit-…` headers.
    pub(super) fn write_headers(self, headers: &mut HeaderMap) {
        let values = [
            ("modelscope-ratelimit-requests-limit", self.user_limit),
            ("modelscope-ratelimit-requests-remaining", self.user_left),
            (
                "modelscope-ratelimit-model-requests-limit",
                self.model_limit,
            ),
            (
                "modelscope-ratelimit-model-requests-remaining",
                self.model_left,
            ),
        ];
        for (name, value) in values {
            set_header(headers, name, &value.to_string());
        }
    }

    /// The 429 of §1.5: body with `request_id` inside `errors`, the four rate-limit headers.
    pub(super) fn exceeded(self, retry_after: Option<u64>) -> Response {
        let mut resp = json_reply(
            StatusCode::TOO_MANY_REQUESTS,
            &json!({"errors": {"message": LIMIT_EXCEEDED, "request_id": new_request_id()}}),
        );
        self.write_headers(resp.headers_mut());
        with_retry_after(resp, retry_after)
    }
}

/// `{"errors":{"code"?,"message"},"request_id"}` with this status.
pub(super) fn errors_reply(status: StatusCode, code: Option<i64>, message: &str) -> Response {
    let errors = match code {
        Some(c) => json!({"code": c, "message": message}),
        None => json!({"message": message}),
    };
    json_reply(
        status,
        &json!({"errors": errors, "request_id": new_request_id()}),
    )
}
