//! Reading ModelScope's replies (providers.md §1.3, §1.5): task statuses and outputs,
//! error envelopes and their classification, and the `modelscope-ratelimit-*` headers.

use crate::providers::adaptor::{PollStatus, ProviderError, QuotaInfo, RemoteOutput};
use crate::providers::builtin_models::ProviderId;
use crate::providers::http::{self, Reply};
use genq_protocol::JobErrorKind;
use genq_protocol::job::OutputRole;
use serde_json::Value;
use std::time::Duration;

const NAME: &str = ProviderId::ModelScope.name();

/// How long to hold off when a 429 comes with a spent daily allowance and no `Retry-After`.
pub(super) const SPENT_QUOTA_WAIT: Duration = Duration::from_secs(15 * 60);

pub(super) const SUCCESS: &[&str] = &["SUCCEED", "SUCCEEDED", "SUCCESS"];

pub(super) const FAILURE: &[&str] = &[
    "FAILED",
    "CANCEL",
    "CANCELED",
    "CANCELLED",
    "ERROR",
    "TIMEOUT",
    "UNKNOWN",
];

/// Reads a task reply (providers.md §1.3). Unknown or missing statuses mean still running:
/// the enum is undocumented and the job timeout bounds the wait.
pub(super) fn poll_status(body: &Value) -> PollStatus {
    let status = http::status_word(body, "task_status").to_ascii_uppercase();
    let request_id = request_id(body);
    if SUCCESS.contains(&status.as_str()) {
        let outputs: Vec<RemoteOutput> = body
            .get("output_images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                // Tolerate `{"url": …}` entries.
                other => other.get("url").and_then(Value::as_str).map(str::to_string),
            })
            .filter(|u| !u.is_empty())
            .map(|url| RemoteOutput {
                format: format_of(&url),
                url,
                role: OutputRole::Image,
                label: None,
            })
            .collect();
        if outputs.is_empty() {
            return PollStatus::Failed(
                ProviderError::final_error(
                    JobErrorKind::Provider,
                    format!("{NAME}: the task finished ({status}) but listed no output_images"),
                )
                .with_request_id(request_id),
            );
        }
        return PollStatus::Succeeded {
            outputs,
            failures: Vec::new(),
            request_id,
            created_at: None,
            finished_at: None,
        };
    }
    let failed = FAILURE.contains(&status.as_str());
    // An error envelope without any status is not a running task either.
    if failed || (status.is_empty() && error_message(body).is_some()) {
        return PollStatus::Failed(task_failure(&status, body));
    }
    PollStatus::Pending {
        progress: None,
        eta: None,
    }
}

pub(super) fn task_failure(status: &str, body: &Value) -> ProviderError {
    let message = error_message(body);
    let code = error_code(body);
    let status_name = if status.is_empty() {
        "an error"
    } else {
        status
    };
    let text = match &message {
        Some(m) => format!("{NAME}: the task ended with {status_name}: {m}"),
        None => format!("{NAME}: the task ended with {status_name} and no message"),
    };
    let kind = if is_content_policy(code.as_deref(), message.as_deref()) {
        JobErrorKind::ContentPolicy
    } else {
        JobErrorKind::Provider
    };
    ProviderError::final_error(kind, text).with_request_id(request_id(body))
}

pub(super) fn not_yet_found(remote_id: &str, request_id: Option<String>) -> ProviderError {
    ProviderError::retryable(
        JobErrorKind::NotFound,
        format!(
            "{NAME}: task {remote_id} not found (usual for a few seconds after submitting; \
             also what a poll under another key gets)"
        ),
    )
    .with_request_id(request_id)
}

/// A non-2xx reply, classified (providers.md §1.5).
pub(super) fn http_error(reply: &Reply) -> ProviderError {
    match reply.json() {
        Some(body) => body_error(reply, &body),
        None => finish_error(reply, None, &reply.text(), None),
    }
}

pub(super) fn body_error(reply: &Reply, body: &Value) -> ProviderError {
    let message = error_message(body).unwrap_or_else(|| reply.snippet());
    finish_error(
        reply,
        error_code(body).as_deref(),
        &message,
        request_id(body),
    )
}

pub(super) fn finish_error(
    reply: &Reply,
    code: Option<&str>,
    message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let status = reply.status;
    let mut e = http::classify_status(
        status,
        format!("{NAME}: HTTP {}: {message}", status.as_u16()),
    )
    .with_request_id(request_id);
    if status.is_success() {
        // An error envelope on a 2xx reply: the provider refused, but says nothing retryable.
        e.kind = JobErrorKind::Provider;
        e.retryable = false;
    }
    if is_content_policy(code, Some(message)) {
        e.kind = JobErrorKind::ContentPolicy;
        e.retryable = false;
    }
    if status.as_u16() == 429 {
        let spent = quota_from_headers(&reply.headers).is_some_and(|q| q.remaining == Some(0));
        e.retry_after = http::retry_after(&reply.headers).or(spent.then_some(SPENT_QUOTA_WAIT));
    }
    e
}

pub(super) fn is_content_policy(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("422")
        || message.is_some_and(|m| m.to_ascii_lowercase().contains("inappropriate content"))
}

pub(super) fn is_task_not_found(message: &str) -> bool {
    message.to_ascii_lowercase().contains("task not found")
}

pub(super) fn error_message(body: &Value) -> Option<String> {
    let errors = body.get("errors")?;
    match errors {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        other => other
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string),
    }
}

pub(super) fn error_code(body: &Value) -> Option<String> {
    http::text_of(body.get("errors")?.get("code"))
}

/// `request_id` at the top level, or inside `errors` as some replies have it.
pub(super) fn request_id(body: &Value) -> Option<String> {
    http::text_of(body.get("request_id"))
        .or_else(|| http::text_of(body.get("errors").and_then(|e| e.get("request_id"))))
}

/// The file type an output URL names, if any.
pub(super) fn format_of(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_ascii_lowercase();
    let ext = path.rsplit_once('.')?.1;
    match ext {
        "png" | "webp" => Some(ext.to_string()),
        "jpg" | "jpeg" => Some("jpg".to_string()),
        _ => None,
    }
}

/// The four `modelscope-ratelimit-*` headers, when any is present: the user's daily figures
/// as `remaining`/`limit`, the model's in `detail`.
pub(super) fn quota_from_headers(headers: &reqwest::header::HeaderMap) -> Option<QuotaInfo> {
    let num = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let user_limit = num("modelscope-ratelimit-requests-limit");
    let user_left = num("modelscope-ratelimit-requests-remaining");
    let model_limit = num("modelscope-ratelimit-model-requests-limit");
    let model_left = num("modelscope-ratelimit-model-requests-remaining");
    if [user_limit, user_left, model_limit, model_left]
        .iter()
        .all(Option::is_none)
    {
        return None;
    }
    let show = |v: Option<i64>| v.map_or("?".to_string(), |v| v.to_string());
    let detail = format!(
        "requests today: user {} of {} left, model {} of {} left",
        show(user_left),
        show(user_limit),
        show(model_left),
        show(model_limit)
    );
    // Whichever allowance is closer to running out is the one that matters.
    let (remaining, limit) = match (user_left, model_left) {
        (Some(u), Some(m)) if m < u => (Some(m), model_limit),
        (Some(u), _) => (Some(u), user_limit),
        (None, Some(m)) => (Some(m), model_limit),
        (None, None) => (None, user_limit.or(model_limit)),
    };
    Some(QuotaInfo {
        remaining,
        limit,
        detail: Some(detail),
    })
}
