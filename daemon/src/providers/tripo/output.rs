//! A task's state as Tripo reports it (providers.md §3.4): progress, failures, and the
//! models and previews a finished task lists.

use super::reply::classify;
use crate::providers::adaptor::{PollStatus, ProviderError, RemoteOutput};
use crate::providers::builtin_models::ProviderId;
use crate::providers::http;
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, Timestamp};
use serde_json::Value;
use std::time::Duration;

const NAME: &str = ProviderId::Tripo.name();

/// Reads `data` of a task reply (providers.md §3.4).
pub(super) fn poll_status(
    remote_id: &str,
    data: &Value,
    request_id: Option<String>,
    quad: bool,
) -> PollStatus {
    let status = http::status_word(data, "status").to_ascii_lowercase();
    let progress = data
        .get("progress")
        .and_then(Value::as_f64)
        .filter(|p| p.is_finite())
        .map(|p| p.clamp(0.0, 100.0) as u8);
    match status.as_str() {
        "success" => succeeded(data, request_id, quad),
        "failed" | "banned" | "expired" | "cancelled" | "canceled" | "unknown" => {
            PollStatus::Failed(task_failure(remote_id, &status, data, request_id))
        }
        "queued" => PollStatus::Pending {
            progress: Some(0),
            eta: None,
        },
        // `running`, and any status newer than this adaptor: still going, bounded by the
        // job timeout.
        _ => PollStatus::Pending {
            progress,
            eta: data
                .get("running_left_time")
                .and_then(Value::as_f64)
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64),
        },
    }
}

fn task_failure(
    remote_id: &str,
    status: &str,
    data: &Value,
    request_id: Option<String>,
) -> ProviderError {
    let code = data.get("error_code").and_then(Value::as_i64);
    let message = http::text_of(data.get("error_msg"));
    let mut e = classify(None, code, message.as_deref(), None);
    let detail = match (code, &message) {
        (Some(c), Some(m)) => format!(" (error_code {c}: {m})"),
        (Some(c), None) => format!(" (error_code {c})"),
        (None, Some(m)) => format!(" ({m})"),
        (None, None) => String::new(),
    };
    let what = match status {
        "banned" => {
            e.kind = JobErrorKind::ContentPolicy;
            "was banned by Tripo's content moderation".to_string()
        }
        "expired" => "expired at Tripo before it finished".to_string(),
        "cancelled" | "canceled" => "was cancelled at Tripo".to_string(),
        "unknown" => "is in an unknown state at Tripo".to_string(),
        _ => "failed".to_string(),
    };
    e.message = format!("{NAME}: task {remote_id} {what}{detail}");
    e.request_id = request_id;
    e
}

/// The output keys genq downloads, in order, and their roles. Other keys are ignored.
const OUTPUT_KEYS: &[(&str, OutputRole)] = &[
    ("model", OutputRole::Model),
    ("pbr_model", OutputRole::Model),
    ("base_model", OutputRole::Model),
    ("rendered_image", OutputRole::Preview),
    ("generated_image", OutputRole::Image),
];

fn succeeded(data: &Value, request_id: Option<String>, quad: bool) -> PollStatus {
    let output = data.get("output");
    let quad = quad
        || data
            .get("input")
            .and_then(|i| i.get("quad"))
            .and_then(Value::as_bool)
            == Some(true);
    let mut outputs = Vec::new();
    for (key, role) in OUTPUT_KEYS {
        let Some(v) = output.and_then(|o| o.get(*key)) else {
            continue;
        };
        // A URL string, or `{"url": …, "type": …}` as some versions send.
        let (url, declared) = match v {
            Value::String(s) => (s.clone(), None),
            Value::Object(o) => match o.get("url").and_then(Value::as_str) {
                Some(u) => (
                    u.to_string(),
                    o.get("type").and_then(Value::as_str).map(str::to_string),
                ),
                None => continue,
            },
            _ => continue,
        };
        if url.is_empty() {
            continue;
        }
        let format = match role {
            OutputRole::Model => Some(
                declared
                    .map(|t| t.to_ascii_lowercase())
                    .filter(|t| t == "glb" || t == "fbx")
                    .or_else(|| extension(&url).filter(|e| e == "glb" || e == "fbx"))
                    .unwrap_or_else(|| if quad { "fbx" } else { "glb" }.to_string()),
            ),
            _ => extension(&url).filter(|e| ["png", "jpg", "jpeg", "webp"].contains(&e.as_str())),
        };
        outputs.push(RemoteOutput {
            url,
            role: *role,
            format,
            label: Some((*key).to_string()),
        });
    }
    if !outputs.iter().any(|o| o.role == OutputRole::Model) {
        return PollStatus::Failed(
            ProviderError::final_error(
                JobErrorKind::Provider,
                format!("{NAME}: the task succeeded but its output lists no model URL"),
            )
            .with_request_id(request_id),
        );
    }
    PollStatus::Succeeded {
        outputs,
        failures: Vec::new(),
        request_id,
        created_at: create_time(data),
        finished_at: None,
    }
}

/// The task's `create_time` (unix seconds), where the reply has a plausible one.
fn create_time(data: &Value) -> Option<Timestamp> {
    let secs = data.get("create_time").and_then(Value::as_f64)?;
    (secs.is_finite() && secs > 0.0 && secs < 1e11)
        .then(|| Timestamp::from_unix_millis((secs * 1000.0).round() as i64))
}

/// The lower-case extension of a URL's path.
fn extension(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_ascii_lowercase();
    let file = path.rsplit('/').next()?;
    Some(file.rsplit_once('.')?.1.to_string())
}
