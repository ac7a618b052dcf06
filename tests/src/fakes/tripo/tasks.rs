//! Tripo's tasks: create with its input checks, query with progress and fresh output links,
//! and the account balance (providers.md §3.3–3.5).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::replies::{auth, bad, error, ok, ok_task};
use super::state::{
    CREDITS_MESSAGE, Inner, LIMIT_MESSAGE, MODEL_VERSIONS, OUTPUT_PREFIX, Phase, STS_BUCKET,
    TASK_COST, TASK_TYPES, TpOutcome, TpState, TpTask,
};
use crate::fakes::common::{char_len, lock, unix_secs};

pub(super) async fn balance(State(state): State<Arc<TpState>>, headers: HeaderMap) -> Response {
    if let Err(r) = auth(&state, &headers) {
        return *r;
    }
    let now = Instant::now();
    let i = lock(&state.inner);
    let active = i
        .tasks
        .values()
        .filter(|t| t.phase(now) != Phase::Done)
        .count();
    ok(json!({"balance": i.balance, "frozen": active as f64 * TASK_COST}))
}

/// Checks one task `file` entry; `Err` is the 400 reply.
fn check_file(i: &Inner, entry: &Value, what: &str) -> Result<(), Box<Response>> {
    let Some(obj) = entry.as_object() else {
        return Err(Box::new(bad(1004, format!("{what} must be an object"))));
    };
    if !matches!(
        obj.get("type").and_then(Value::as_str),
        Some("jpg" | "jpeg" | "png" | "webp")
    ) {
        return Err(Box::new(bad(
            2004,
            format!("{what}.type must be jpg, png or webp"),
        )));
    }
    let sources = ["file_token", "url", "object"]
        .iter()
        .filter(|k| obj.contains_key(**k))
        .count();
    if sources != 1 {
        return Err(Box::new(bad(
            1004,
            format!("{what} needs exactly one of file_token, url, object"),
        )));
    }
    if let Some(object) = obj.get("object") {
        let known = object.get("bucket").and_then(Value::as_str) == Some(STS_BUCKET)
            && object
                .get("key")
                .and_then(Value::as_str)
                .is_some_and(|k| i.objects.contains_key(k));
        if !known {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                2019,
                "File not found",
            )));
        }
    }
    if let Some(token) = obj.get("file_token") {
        let known = token.as_str().is_some_and(|t| i.uploads.contains_key(t));
        if !known {
            return Err(Box::new(error(
                StatusCode::NOT_FOUND,
                2019,
                "File not found",
            )));
        }
    }
    Ok(())
}

/// Checks a create's input for its task type; `Err` is the 400 (or 404 for an unknown file).
fn check_input(i: &Inner, kind: &str, input: &Value) -> Result<(), Box<Response>> {
    match kind {
        "text_to_model" => {
            let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or("");
            if prompt.trim().is_empty() || char_len(prompt) > 1024 {
                return Err(Box::new(bad(1004, "prompt must be 1 to 1024 characters")));
            }
            if let Some(n) = input.get("negative_prompt")
                && n.as_str().is_none_or(|n| char_len(n) > 255)
            {
                return Err(Box::new(bad(
                    1004,
                    "negative_prompt must be at most 255 characters",
                )));
            }
        }
        "image_to_model" => {
            let Some(file) = input.get("file") else {
                return Err(Box::new(bad(1004, "image_to_model needs file")));
            };
            check_file(i, file, "file")?;
        }
        _ => {
            let files = input.get("files").and_then(Value::as_array);
            let Some(files) = files.filter(|f| f.len() == 4) else {
                return Err(Box::new(bad(
                    1004,
                    "files must have exactly 4 entries [front, left, back, right]",
                )));
            };
            let given: Vec<usize> = (0..4)
                .filter(|k| files[*k].as_object().is_some_and(|o| !o.is_empty()))
                .collect();
            if !given.contains(&0) || given.len() < 2 {
                return Err(Box::new(bad(
                    1004,
                    "files needs the front image and at least one more",
                )));
            }
            for k in given {
                check_file(i, &files[k], &format!("files[{k}]"))?;
            }
        }
    }
    Ok(())
}

pub(super) async fn create(
    State(state): State<Arc<TpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match auth(&state, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let Ok(input) = serde_json::from_slice::<Value>(&body) else {
        return bad(1003, "The request body is not valid JSON");
    };
    let kind = input
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !TASK_TYPES.contains(&kind.as_str()) {
        return bad(2002, format!("Unsupported task type: {kind:?}"));
    }
    if let Some(v) = input.get("model_version") {
        let ok = v.as_str().is_some_and(|v| MODEL_VERSIONS.contains(&v));
        if !ok {
            return bad(2017, format!("Invalid model_version: {v}"));
        }
    }
    let mut i = lock(&state.inner);
    if let Err(r) = check_input(&i, &kind, &input) {
        return *r;
    }
    if i.balance < TASK_COST {
        return error(StatusCode::FORBIDDEN, 2010, CREDITS_MESSAGE);
    }
    let now = Instant::now();
    let active = i
        .tasks
        .values()
        .filter(|t| t.key == key && t.phase(now) != Phase::Done)
        .count();
    if i.max_active.is_some_and(|m| active >= m) {
        return error(StatusCode::TOO_MANY_REQUESTS, 2000, LIMIT_MESSAGE);
    }
    i.max_active_seen = i.max_active_seen.max(active + 1);
    i.balance -= TASK_COST;
    let script = state.scripts.next();
    let task_id = uuid::Uuid::now_v7().to_string();
    let flag = |k: &str| input.get(k).and_then(Value::as_bool);
    let task = TpTask {
        key,
        kind,
        created: now,
        created_at: SystemTime::now(),
        script,
        quad: flag("quad") == Some(true),
        pbr: flag("pbr") != Some(false),
        input,
        links: HashMap::new(),
        traces: Vec::new(),
    };
    i.tasks.insert(task_id.clone(), task);
    let reply = ok_task(i.tasks.get_mut(&task_id), json!({"task_id": task_id}));
    drop(i);
    state.core.task_created(&task_id);
    reply
}

pub(super) async fn query(
    State(state): State<Arc<TpState>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let key = match auth(&state, &headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let now = Instant::now();
    let mut guard = lock(&state.inner);
    let i = &mut *guard;
    let Some(task) = i.tasks.get(&task_id).filter(|t| t.key == key) else {
        return error(StatusCode::NOT_FOUND, 2001, "Task not found");
    };
    let created = unix_secs(task.created_at);
    let mut data = json!({
        "task_id": task_id, "type": task.kind, "input": public_input(&task.input),
        "output": {}, "create_time": created,
    });
    match task.phase(now) {
        Phase::Queued => {
            let ahead = i
                .tasks
                .values()
                .filter(|t| t.created < task.created && t.phase(now) == Phase::Queued)
                .count();
            data["status"] = json!("queued");
            data["progress"] = json!(0);
            data["queuing_num"] = json!(ahead);
            data["running_left_time"] = json!(task.script.running.as_secs());
        }
        Phase::Running => {
            let into = now.saturating_duration_since(task.created) - task.script.queued;
            let frac = into.as_secs_f64() / task.script.running.as_secs_f64().max(1e-3);
            data["status"] = json!("running");
            data["progress"] = json!(((frac * 100.0) as u64).clamp(1, 99));
            data["queuing_num"] = json!(0);
            data["running_left_time"] = json!(
                task.script
                    .running
                    .saturating_sub(into)
                    .as_secs_f64()
                    .ceil() as u64
            );
        }
        Phase::Done => {
            data["queuing_num"] = json!(-1);
            data["running_left_time"] = json!(-1);
            match &task.script.outcome {
                TpOutcome::Succeed => {
                    // Fresh links on every query, each set living `url_ttl` from now.
                    let ttl = if i.expire_next_links > 0 {
                        i.expire_next_links -= 1;
                        Duration::ZERO
                    } else {
                        state.core.url_ttl()
                    };
                    let sig = uuid::Uuid::now_v7().simple().to_string();
                    let expires = unix_secs(SystemTime::now() + ttl);
                    let links = format!("{}{OUTPUT_PREFIX}{task_id}", state.core.files_base_url());
                    data["status"] = json!("success");
                    data["progress"] = json!(100);
                    data["output"] = success_output(task, &links, expires, &sig);
                    if let Some(t) = i.tasks.get_mut(&task_id) {
                        t.links.insert(sig, now + ttl);
                    }
                }
                TpOutcome::Failed {
                    error_code,
                    error_msg,
                } => {
                    data["status"] = json!("failed");
                    data["error_code"] = json!(error_code);
                    data["error_msg"] = json!(error_msg);
                }
                TpOutcome::Banned => data["status"] = json!("banned"),
                TpOutcome::Expired => data["status"] = json!("expired"),
                TpOutcome::Cancelled => data["status"] = json!("cancelled"),
                TpOutcome::Unknown => data["status"] = json!("unknown"),
            }
        }
    }
    ok_task(i.tasks.get_mut(&task_id), data)
}

/// A finished task's outputs: links under `links` (`{base}/tp-output/{task_id}`) signed with
/// `sig` and expiring at `expires` (Unix seconds).
fn success_output(task: &TpTask, links: &str, expires: u64, sig: &str) -> Value {
    let url = |file: &str| format!("{links}/{file}?Expires={expires}&Signature={sig}");
    let model = if task.quad { "model.fbx" } else { "model.glb" };
    let mut output = json!({
        "model": url(model),
        "rendered_image": url("preview.png"),
        // An undocumented key clients must ignore.
        "x_fake_riggable": {"score": 0.5},
    });
    if task.pbr && !task.quad {
        output["pbr_model"] = json!(url("pbr.glb"));
    }
    output
}

/// The task's input as the query echoes it (prompt and options, no file tokens).
fn public_input(input: &Value) -> Value {
    let mut v = input.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("file");
        o.remove("files");
    }
    v
}
