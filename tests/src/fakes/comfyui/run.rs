//! The fake's worker: one prompt at a time, lowest number first, with the websocket events of
//! comfyui.md §9.3 sent to the prompt's client and its history entry written before the final
//! `executing {node: null}`.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use serde_json::{Map, Value, json};

use super::{ComfyState, Inner};
use crate::fakes::common::{lock, make_png};

/// Sends an event to the socket of `client` (all sockets for `None`).
pub(super) fn send(inner: &Inner, client: Option<&str>, kind: &str, data: Value) {
    let text = json!({"type": kind, "data": data}).to_string();
    for (sid, tx) in &inner.sockets {
        if client.is_none_or(|c| c == sid) {
            let _ = tx.send(text.clone());
        }
    }
}

pub(super) fn start_worker(state: &Arc<ComfyState>) {
    if !state.worker.swap(true, Ordering::SeqCst) {
        tokio::spawn(worker(Arc::downgrade(state)));
    }
}

/// Runs prompts one at a time, lowest number first, while the fake lives.
async fn worker(state: Weak<ComfyState>) {
    loop {
        let Some(s) = state.upgrade() else { return };
        let next = {
            let mut inner = lock(&s.inner);
            inner.pending.sort_by_key(|p| p.0);
            (!inner.pending.is_empty()).then(|| inner.pending.remove(0))
        };
        match next {
            Some(prompt) => run(&s, prompt).await,
            None => {
                tokio::select! {
                    _ = s.wake.notified() => {}
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
        }
    }
}

/// One prompt's timeline (§9.3), with its history entry written before the final
/// `executing {node: null}`.
async fn run(s: &Arc<ComfyState>, prompt: (u64, String, Value, Option<String>)) {
    let (id, graph, client) = (prompt.1.clone(), prompt.2.clone(), prompt.3.clone());
    let c = client.as_deref();
    let (steps, step_time, fail) = {
        let mut inner = lock(&s.inner);
        inner.running = Some(prompt);
        inner.interrupt = false;
        send(
            &inner,
            c,
            "execution_start",
            json!({"prompt_id": id, "timestamp": 0}),
        );
        let steps = graph
            .as_object()
            .and_then(|g| g.values().find(|n| n["class_type"] == "KSampler"))
            .and_then(|n| n["inputs"]["steps"].as_u64())
            .unwrap_or(1);
        (steps, inner.step_time, inner.fail_next.take())
    };
    let sampler = graph
        .as_object()
        .and_then(|g| g.iter().find(|(_, n)| n["class_type"] == "KSampler"))
        .map(|(k, _)| k.clone())
        .unwrap_or_default();
    for step in 1..=steps {
        tokio::time::sleep(step_time).await;
        let inner = lock(&s.inner);
        if inner.running.as_ref().is_none_or(|r| r.1 != id) {
            // Lost in a restart: nothing reaches the history.
            return;
        }
        if inner.interrupt {
            drop(inner);
            return finish(s, &id, c, Outcome::Interrupted(sampler));
        }
        send(
            &inner,
            c,
            "progress",
            json!({"value": step, "max": steps, "prompt_id": id, "node": sampler}),
        );
    }
    let outcome = match fail {
        Some(message) => Outcome::Failed(sampler, message),
        None => Outcome::Succeeded(graph),
    };
    finish(s, &id, c, outcome);
}

enum Outcome {
    Succeeded(Value),
    Failed(String, String),
    Interrupted(String),
}

fn finish(s: &Arc<ComfyState>, id: &str, c: Option<&str>, outcome: Outcome) {
    let mut inner = lock(&s.inner);
    let start = json!(["execution_start", {"prompt_id": id, "timestamp": 0}]);
    let (status, outputs) = match outcome {
        Outcome::Succeeded(graph) => {
            let mut outputs = Map::new();
            let savers = graph
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(_, n)| n["class_type"] == "SaveImage");
            let savers: Vec<(String, String)> = savers
                .map(|(k, n)| {
                    (
                        k.clone(),
                        n["inputs"]["filename_prefix"]
                            .as_str()
                            .unwrap_or("ComfyUI")
                            .to_string(),
                    )
                })
                .collect();
            let batch = graph
                .as_object()
                .and_then(|g| g.values().find(|n| n["class_type"] == "EmptyLatentImage"))
                .and_then(|n| n["inputs"]["batch_size"].as_u64())
                .unwrap_or(1);
            for (node, prefix) in savers {
                let mut images = Vec::new();
                for _ in 0..batch {
                    inner.file_counter += 1;
                    let name = format!(
                        "{}_{:05}_.png",
                        prefix.rsplit('/').next().unwrap_or("ComfyUI"),
                        inner.file_counter
                    );
                    inner
                        .files
                        .insert(name.clone(), make_png(&format!("comfy-{name}")));
                    images.push(json!({"filename": name, "subfolder": "", "type": "output"}));
                }
                send(
                    &inner,
                    c,
                    "executed",
                    json!({"node": node, "display_node": node, "output": {"images": images}, "prompt_id": id}),
                );
                outputs.insert(node, json!({"images": images}));
            }
            send(
                &inner,
                c,
                "execution_success",
                json!({"prompt_id": id, "timestamp": 0}),
            );
            let messages = json!([start, ["execution_success", {"prompt_id": id, "timestamp": 0}]]);
            (
                json!({"status_str": "success", "completed": true, "messages": messages}),
                outputs,
            )
        }
        Outcome::Failed(node, message) => {
            let error = json!({"prompt_id": id, "node_id": node, "node_type": "KSampler", "executed": [],
                               "exception_message": format!("{message}\n"), "exception_type": "torch.OutOfMemoryError",
                               "traceback": [], "current_inputs": {}, "current_outputs": [], "timestamp": 0});
            send(&inner, c, "execution_error", error.clone());
            (
                json!({"status_str": "error", "completed": false, "messages": [start, ["execution_error", error]]}),
                Map::new(),
            )
        }
        Outcome::Interrupted(node) => {
            let event = json!({"prompt_id": id, "node_id": node, "node_type": "KSampler", "executed": [], "timestamp": 0});
            send(&inner, c, "execution_interrupted", event.clone());
            (
                json!({"status_str": "error", "completed": false, "messages": [start, ["execution_interrupted", event]]}),
                Map::new(),
            )
        }
    };
    let entry = json!({"prompt": [0, id, {}, {"client_id": c}, []], "outputs": outputs, "status": status, "meta": {}});
    inner.history.insert(id.to_string(), entry);
    inner.running = None;
    send(
        &inner,
        c,
        "executing",
        json!({"node": null, "prompt_id": id}),
    );
}
