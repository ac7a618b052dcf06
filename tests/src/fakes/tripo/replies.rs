//! Tripo's reply shapes: the `{"code","data"}` envelope with a trace id on every reply, its
//! errors, and the key check (providers.md §3.1).

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::state::{TRACE_HEADER, TpState, TpTask};
use crate::fakes::common::{bearer, json_reply, new_request_id, set_header};

/// A code-envelope reply with a trace id.
fn reply(status: StatusCode, body: &Value) -> Response {
    traced(status, body, &new_request_id())
}

fn traced(status: StatusCode, body: &Value, trace: &str) -> Response {
    let mut r = json_reply(status, body);
    set_header(r.headers_mut(), TRACE_HEADER, trace);
    r
}

pub(super) fn ok(data: Value) -> Response {
    reply(StatusCode::OK, &json!({"code": 0, "data": data}))
}

/// A success reply about one task, its trace id remembered on the task.
pub(super) fn ok_task(task: Option<&mut TpTask>, data: Value) -> Response {
    let trace = new_request_id();
    if let Some(t) = task {
        t.traces.push(trace.clone());
    }
    traced(StatusCode::OK, &json!({"code": 0, "data": data}), &trace)
}

/// `{"code","message","suggestion"}` with this status (§3.1).
pub(super) fn error(status: StatusCode, code: i64, message: &str) -> Response {
    reply(
        status,
        &json!({"code": code, "message": message,
            "suggestion": "See https://platform.tripo3d.ai/docs/error-code"}),
    )
}

pub(super) fn bad(code: i64, message: impl AsRef<str>) -> Response {
    error(StatusCode::BAD_REQUEST, code, message.as_ref())
}

pub(super) async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, 404, "Not Found")
}

/// The caller's key when the fake accepts it; else the 401 code 1002 reply.
/// (Boxed: a `Response` is large.)
pub(super) fn auth(state: &TpState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let given = bearer(headers).unwrap_or("");
    if state.core.accepts(given) {
        Ok(given.to_string())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            1002,
            "Authentication failed: the API key is missing or invalid",
        )))
    }
}
