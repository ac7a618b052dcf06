//! Where a prompt stands, from ComfyUI's truth: `GET /queue` first (running or pending),
//! then `GET /history/{prompt_id}` (its outcome and output files); absent from both means
//! ComfyUI no longer knows it.

use super::info::NAME;
use crate::providers::adaptor::{CallContext, PollStatus, ProviderError, RemoteOutput};
use crate::providers::http;
use genq_protocol::JobErrorKind;
use genq_protocol::job::OutputRole;
use reqwest::Method;
use serde_json::Value;

/// Where a prompt stands.
pub enum Found {
    Running,
    Pending,
    Done(PollStatus),
    Unknown,
}

async fn get(ctx: &CallContext, segments: &[&str]) -> Result<Value, ProviderError> {
    let url = http::endpoint(&ctx.base_url, segments)?;
    let reply = http::send(ctx.http.request(Method::GET, url)).await?;
    if !reply.status.is_success() {
        return Err(http::classify_status(
            reply.status,
            format!("{NAME}: {}", reply.text()),
        ));
    }
    reply.json_or_malformed(NAME)
}

/// Whether `prompt_id` is in the queue list `items` (5-element arrays, id at index 1).
fn holds(items: &Value, prompt_id: &str) -> bool {
    items
        .as_array()
        .into_iter()
        .flatten()
        .any(|item| item.get(1).and_then(Value::as_str) == Some(prompt_id))
}

pub async fn find(ctx: &CallContext, prompt_id: &str) -> Result<Found, ProviderError> {
    let queue = get(ctx, &["queue"]).await?;
    if holds(&queue["queue_running"], prompt_id) {
        return Ok(Found::Running);
    }
    if holds(&queue["queue_pending"], prompt_id) {
        return Ok(Found::Pending);
    }
    let history = get(ctx, &["history", prompt_id]).await?;
    match history.get(prompt_id) {
        Some(entry) => Ok(Found::Done(outcome(ctx, entry)?)),
        None => Ok(Found::Unknown),
    }
}

/// A history entry's outcome: its output files as `/view` URLs, or its error.
fn outcome(ctx: &CallContext, entry: &Value) -> Result<PollStatus, ProviderError> {
    let status = &entry["status"];
    if status["status_str"] == "success" {
        let mut outputs = Vec::new();
        for node in entry["outputs"]
            .as_object()
            .into_iter()
            .flat_map(|o| o.values())
        {
            for file in node["images"].as_array().into_iter().flatten() {
                let mut url = http::endpoint(&ctx.base_url, &["view"])?;
                url.query_pairs_mut()
                    .append_pair("filename", file["filename"].as_str().unwrap_or_default())
                    .append_pair("subfolder", file["subfolder"].as_str().unwrap_or_default())
                    .append_pair("type", file["type"].as_str().unwrap_or("output"));
                outputs.push(RemoteOutput {
                    url: url.to_string(),
                    role: OutputRole::Image,
                    format: None,
                    label: None,
                });
            }
        }
        if outputs.is_empty() {
            return Ok(PollStatus::Failed(ProviderError::final_error(
                JobErrorKind::Provider,
                format!(
                    "{NAME}: the workflow finished without an image (does it end in SaveImage?)"
                ),
            )));
        }
        return Ok(PollStatus::Succeeded {
            outputs,
            failures: Vec::new(),
            request_id: None,
            created_at: None,
            finished_at: None,
        });
    }
    let messages = status["messages"].as_array().cloned().unwrap_or_default();
    let event = |name: &str| messages.iter().find(|m| m[0] == name).map(|m| m[1].clone());
    let message = if let Some(e) = event("execution_error") {
        format!(
            "{NAME}: node {} ({}) failed: {}",
            e["node_id"].as_str().unwrap_or("?"),
            e["node_type"].as_str().unwrap_or("?"),
            e["exception_message"].as_str().unwrap_or("").trim()
        )
    } else if event("execution_interrupted").is_some() {
        format!("{NAME}: the prompt was interrupted on the ComfyUI server")
    } else {
        format!("{NAME}: the prompt failed")
    };
    Ok(PollStatus::Failed(ProviderError::final_error(
        JobErrorKind::Provider,
        message,
    )))
}

/// Stops the prompt: `/interrupt` when it runs, a queue delete while it waits.
pub async fn cancel(ctx: &CallContext, prompt_id: &str) -> Result<(), ProviderError> {
    let (path, body) = match find(ctx, prompt_id).await? {
        Found::Running => ("interrupt", serde_json::json!({"prompt_id": prompt_id})),
        Found::Pending => ("queue", serde_json::json!({"delete": [prompt_id]})),
        Found::Done(_) | Found::Unknown => return Ok(()),
    };
    let url = http::endpoint(&ctx.base_url, &[path])?;
    http::send(ctx.http.request(Method::POST, url).json(&body)).await?;
    Ok(())
}
