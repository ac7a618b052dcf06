//! A fake ComfyUI server (comfyui.md): `POST /prompt` validates the API-format graph against
//! a small class table and answers the 400 shapes of §3.2; one prompt runs at a time from an
//! in-memory queue, reporting on the websocket `/ws?clientId=` (`status` first with the
//! `sid`, then `execution_start`, `progress` 1…steps, `executed`, `execution_success`, the
//! history written, `executing {node: null}`) to the socket of the prompt's `client_id`;
//! `/queue`, `/history/{id}` (`{}` when unknown), `/view` serving real PNGs, `/interrupt`,
//! queue deletes; routes also under `/api`. `restart()` loses the queue, history and sockets
//! as a real restart does. The shared faults (slow, 500, …) apply.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::{Notify, mpsc};

use super::common::{json_reply, lock, make_png};
use super::control::{Core, Endpoint};
use super::server::{Fake, Provider, Served};

/// A running fake ComfyUI.
pub type ComfyFake = Fake<ComfyState>;

/// A text-to-image workflow in API format (comfyui.md §11) that the fake runs.
pub const SAMPLE_WORKFLOW: &str = r#"{
  "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
  "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "placeholder"}},
  "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
  "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
  "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 1.0}},
  "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
  "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "genq"}}
}"#;

/// The config lines binding every job field to [`SAMPLE_WORKFLOW`]'s inputs.
pub const SAMPLE_BINDINGS: &str = "prompt = \"2.inputs.text\"\nnegative_prompt = \"3.inputs.text\"\n\
    seed = \"5.inputs.seed\"\nsteps = \"5.inputs.steps\"\nwidth = \"4.inputs.width\"\n\
    height = \"4.inputs.height\"\nn = \"4.inputs.batch_size\"\n";

/// Checkpoints the fake's `CheckpointLoaderSimple` offers.
pub const CHECKPOINTS: [&str; 2] = ["sd15.safetensors", "sdxl.safetensors"];

/// The fake's state.
#[derive(Debug)]
pub struct ComfyState {
    core: Core,
    inner: Mutex<Inner>,
    wake: Notify,
    worker: AtomicBool,
    counter: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    /// (number, prompt_id, graph, client_id)
    pending: Vec<(u64, String, Value, Option<String>)>,
    running: Option<(u64, String, Value, Option<String>)>,
    interrupt: bool,
    history: Map<String, Value>,
    files: HashMap<String, Bytes>,
    sockets: HashMap<String, mpsc::UnboundedSender<String>>,
    step_time: Duration,
    /// The next prompt fails at its sampler with this message.
    fail_next: Option<String>,
    file_counter: u32,
}

impl Served for ComfyState {
    const NAME: &'static str = "ComfyUI";
    const URL_TTL: Duration = Duration::from_secs(86400);

    fn new(core: Core) -> Self {
        ComfyState {
            core,
            inner: Mutex::new(Inner {
                step_time: Duration::from_millis(20),
                ..Inner::default()
            }),
            wake: Notify::new(),
            worker: AtomicBool::new(false),
            counter: AtomicU64::new(0),
        }
    }

    fn router() -> Router<Arc<Self>> {
        let mut router = Router::new();
        for prefix in ["", "/api"] {
            router = router
                .route(&format!("{prefix}/prompt"), post(submit))
                .route(&format!("{prefix}/queue"), get(queue).post(queue_delete))
                .route(&format!("{prefix}/interrupt"), post(interrupt))
                .route(&format!("{prefix}/history/{{id}}"), get(history))
                .route(&format!("{prefix}/view"), get(view))
                .route(&format!("{prefix}/ws"), get(socket));
        }
        router
    }
}

impl Provider for ComfyState {
    fn core(&self) -> &Core {
        &self.core
    }

    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        let path = path.strip_prefix("/api").unwrap_or(path);
        if method == Method::POST && path == "/prompt" {
            (Endpoint::Submit, None)
        } else if path == "/queue" && method == Method::GET {
            (Endpoint::Poll, None)
        } else if let Some(id) = path.strip_prefix("/history/") {
            (Endpoint::Poll, Some(id.to_string()))
        } else if path == "/view" {
            (Endpoint::Download, None)
        } else {
            (Endpoint::Other, None)
        }
    }

    /// ComfyUI has no rate limiting: a proxy's plain 429.
    fn rate_limited(&self, _endpoint: Endpoint, _retry_after: Option<u64>) -> Response {
        (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response()
    }

    /// aiohttp's plain-text 500 for an unhandled exception.
    fn server_error(&self, _endpoint: Endpoint, status: StatusCode) -> Response {
        (
            status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "500 Internal Server Error\n\nServer got itself in trouble",
        )
            .into_response()
    }
}

impl ComfyFake {
    /// Time of one sampler step (a prompt takes `steps` of them).
    pub fn set_step_time(&self, step: Duration) {
        lock(&self.state().inner).step_time = step;
    }

    /// The next prompt fails at its sampler with this exception message.
    pub fn fail_next(&self, message: &str) {
        lock(&self.state().inner).fail_next = Some(message.to_string());
    }

    /// A restart: the queue, the running prompt, the history and every socket are lost.
    pub fn restart(&self) {
        let mut inner = lock(&self.state().inner);
        inner.pending.clear();
        inner.running = None;
        inner.interrupt = true;
        inner.history.clear();
        inner.sockets.clear();
    }

    /// Prompt ids received, in order.
    pub fn prompt_ids(&self) -> Vec<String> {
        self.requests_to(Endpoint::Submit)
            .iter()
            .filter_map(|r| {
                r.body
                    .as_ref()?
                    .get("prompt_id")?
                    .as_str()
                    .map(str::to_string)
            })
            .collect()
    }

    /// Whether a prompt is running now.
    pub fn is_running(&self) -> bool {
        lock(&self.state().inner).running.is_some()
    }
}

/// One input's rule: kind, min/max, combo options, or a link.
enum Rule {
    Link,
    Int(f64, f64),
    Float(f64, f64),
    Text,
    Combo(&'static [&'static str]),
}

/// The class table: each class's required inputs and whether it is an output node.
fn class(name: &str) -> Option<(Vec<(&'static str, Rule)>, bool)> {
    use Rule::*;
    Some(match name {
        "CheckpointLoaderSimple" => (vec![("ckpt_name", Combo(&CHECKPOINTS))], false),
        "CLIPTextEncode" => (vec![("text", Text), ("clip", Link)], false),
        "EmptyLatentImage" => (
            vec![
                ("width", Int(16.0, 16384.0)),
                ("height", Int(16.0, 16384.0)),
                ("batch_size", Int(1.0, 4096.0)),
            ],
            false,
        ),
        "KSampler" => (
            vec![
                ("model", Link),
                ("positive", Link),
                ("negative", Link),
                ("latent_image", Link),
                ("seed", Int(0.0, 18446744073709551615.0)),
                ("steps", Int(1.0, 10000.0)),
                ("cfg", Float(0.0, 100.0)),
                (
                    "sampler_name",
                    Combo(&["euler", "euler_ancestral", "dpmpp_2m"]),
                ),
                ("scheduler", Combo(&["normal", "karras", "simple"])),
                ("denoise", Float(0.0, 1.0)),
            ],
            false,
        ),
        "VAEDecode" => (vec![("samples", Link), ("vae", Link)], false),
        "SaveImage" => (vec![("images", Link), ("filename_prefix", Text)], true),
        "PreviewImage" => (vec![("images", Link)], true),
        _ => return None,
    })
}

/// A 400 with ComfyUI's `{"error", "node_errors"}` body.
fn refused(kind: &str, message: &str, details: &str, node_errors: Value) -> Response {
    json_reply(
        StatusCode::BAD_REQUEST,
        &json!({"error": {"type": kind, "message": message, "details": details, "extra_info": {}},
                "node_errors": node_errors}),
    )
}

/// One input's reason for failing validation, as §3.2 gives it.
fn reason(kind: &str, message: &str, details: String, input: &str, value: &Value) -> Value {
    json!({"type": kind, "message": message, "details": details,
           "extra_info": {"input_name": input, "input_config": null, "received_value": value}})
}

fn check_input(name: &str, rule: &Rule, value: Option<&Value>) -> Option<Value> {
    let Some(v) = value else {
        return Some(reason(
            "required_input_missing",
            "Required input is missing",
            name.into(),
            name,
            &Value::Null,
        ));
    };
    let number = v.as_f64();
    match rule {
        Rule::Link => v.as_array().is_none_or(|a| a.len() != 2).then(|| {
            reason(
                "bad_linked_input",
                "Bad linked input, must be a length-2 list of [node_id, slot_index]",
                format!("{name}, {v}"),
                name,
                v,
            )
        }),
        Rule::Int(min, max) | Rule::Float(min, max) => match number {
            None => Some(reason(
                "invalid_input_type",
                "Failed to convert an input value to a number",
                format!("{name}, {v}"),
                name,
                v,
            )),
            Some(x) if x < *min => Some(reason(
                "value_smaller_than_min",
                &format!("Value {x} smaller than min of {min}"),
                name.to_string(),
                name,
                v,
            )),
            Some(x) if x > *max => Some(reason(
                "value_bigger_than_max",
                &format!("Value {x} bigger than max of {max}"),
                name.to_string(),
                name,
                v,
            )),
            Some(_) => None,
        },
        Rule::Text => None,
        Rule::Combo(options) => (!v.as_str().is_some_and(|s| options.contains(&s))).then(|| {
            reason(
                "value_not_in_list",
                "Value not in list",
                format!(
                    "{name}: '{}' not in {options:?}",
                    v.as_str().unwrap_or_default()
                ),
                name,
                v,
            )
        }),
    }
}

/// Validates a graph as `validate_prompt` does: the 400 reply when it fails.
fn validate(graph: &Value) -> Option<Response> {
    let Some(nodes) = graph.as_object() else {
        return Some(refused(
            "no_prompt",
            "No prompt provided",
            "No prompt provided",
            json!({}),
        ));
    };
    let mut outputs = 0;
    let mut node_errors = Map::new();
    for (id, node) in nodes {
        let Some(class_type) = node.get("class_type").and_then(Value::as_str) else {
            return Some(refused(
                "invalid_prompt",
                "Cannot execute because a node is missing the class_type property.",
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        };
        let Some((inputs, is_output)) = class(class_type) else {
            return Some(refused(
                "invalid_prompt",
                &format!("Cannot execute because node {class_type} does not exist."),
                &format!("Node ID '#{id}'"),
                json!({}),
            ));
        };
        outputs += usize::from(is_output);
        let errors: Vec<Value> = inputs
            .iter()
            .filter_map(|(name, rule)| check_input(name, rule, node["inputs"].get(*name)))
            .collect();
        if !errors.is_empty() {
            node_errors.insert(
                id.clone(),
                json!({"errors": errors, "dependent_outputs": [], "class_type": class_type}),
            );
        }
    }
    if outputs == 0 {
        return Some(refused(
            "prompt_no_outputs",
            "Prompt has no outputs",
            "",
            json!({}),
        ));
    }
    if !node_errors.is_empty() {
        let details: Vec<String> = node_errors
            .values()
            .flat_map(|e| e["errors"].as_array().cloned().unwrap_or_default())
            .map(|r| {
                format!(
                    "{}: {}",
                    r["message"].as_str().unwrap_or(""),
                    r["details"].as_str().unwrap_or("")
                )
            })
            .collect();
        return Some(refused(
            "prompt_outputs_failed_validation",
            "Prompt outputs failed validation",
            &details.join("\n"),
            Value::Object(node_errors),
        ));
    }
    None
}

async fn submit(State(state): State<Arc<ComfyState>>, body: Bytes) -> Response {
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        return state.server_error(Endpoint::Submit, StatusCode::INTERNAL_SERVER_ERROR);
    };
    let Some(graph) = body.get("prompt") else {
        return refused(
            "no_prompt",
            "No prompt provided",
            "No prompt provided",
            json!({}),
        );
    };
    if let Some(reply) = validate(graph) {
        return reply;
    }
    let prompt_id = body["prompt_id"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let number = state.counter.fetch_add(1, Ordering::SeqCst);
    let client_id = body["client_id"].as_str().map(str::to_string);
    lock(&state.inner)
        .pending
        .push((number, prompt_id.clone(), graph.clone(), client_id));
    start_worker(&state);
    state.wake.notify_one();
    json_reply(
        StatusCode::OK,
        &json!({"prompt_id": prompt_id, "number": number, "node_errors": {}}),
    )
}

/// A queue item as `/queue` shows it: `[number, prompt_id, prompt, extra_data, outputs]`.
fn item((number, id, graph, client): &(u64, String, Value, Option<String>)) -> Value {
    json!([number, id, graph, {"client_id": client}, []])
}

async fn queue(State(state): State<Arc<ComfyState>>) -> Response {
    let inner = lock(&state.inner);
    let running: Vec<Value> = inner.running.iter().map(item).collect();
    let pending: Vec<Value> = inner.pending.iter().map(item).collect();
    json_reply(
        StatusCode::OK,
        &json!({"queue_running": running, "queue_pending": pending}),
    )
}

async fn queue_delete(State(state): State<Arc<ComfyState>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut inner = lock(&state.inner);
    if body["clear"] == true {
        inner.pending.clear();
    }
    for id in body["delete"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        inner.pending.retain(|p| p.1 != id);
    }
    StatusCode::OK.into_response()
}

async fn interrupt(State(state): State<Arc<ComfyState>>, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let mut inner = lock(&state.inner);
    let running = inner.running.as_ref().map(|r| r.1.clone());
    match body["prompt_id"].as_str() {
        Some(id) if running.as_deref() != Some(id) => {}
        _ => inner.interrupt = running.is_some(),
    }
    StatusCode::OK.into_response()
}

async fn history(State(state): State<Arc<ComfyState>>, Path(id): Path<String>) -> Response {
    let inner = lock(&state.inner);
    let mut out = Map::new();
    if let Some(entry) = inner.history.get(&id) {
        out.insert(id, entry.clone());
    }
    json_reply(StatusCode::OK, &Value::Object(out))
}

async fn view(
    State(state): State<Arc<ComfyState>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let Some(name) = q.get("filename") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if name.starts_with('/') || name.contains("..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    if !matches!(
        q.get("type").map(String::as_str),
        None | Some("output" | "input" | "temp")
    ) {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match lock(&state.inner).files.get(name) {
        Some(png) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "image/png".to_string()),
                (header::CONTENT_DISPOSITION, format!("filename=\"{name}\"")),
            ],
            png.clone(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn socket(
    State(state): State<Arc<ComfyState>>,
    Query(q): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let sid = q
        .get("clientId")
        .cloned()
        .unwrap_or_else(|| uuid::Uuid::now_v7().simple().to_string());
    upgrade.on_upgrade(move |ws| session(state, sid, ws))
}

/// One websocket session: registered under its sid (replacing an older one), `status` first,
/// then whatever the worker sends it.
async fn session(state: Arc<ComfyState>, sid: String, mut ws: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let remaining = {
        let mut inner = lock(&state.inner);
        inner.sockets.insert(sid.clone(), tx);
        inner.pending.len() + usize::from(inner.running.is_some())
    };
    let first = json!({"type": "status", "data": {"status": {"exec_info": {"queue_remaining": remaining}}, "sid": sid}});
    if ws
        .send(Message::Text(first.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(text) => if ws.send(Message::Text(text.into())).await.is_err() { return },
                // Dropped by a restart: the socket closes.
                None => return,
            },
            incoming = ws.recv() => if !matches!(incoming, Some(Ok(_))) { return },
        }
    }
}

/// Sends an event to the socket of `client` (all sockets for `None`).
fn send(inner: &Inner, client: Option<&str>, kind: &str, data: Value) {
    let text = json!({"type": kind, "data": data}).to_string();
    for (sid, tx) in &inner.sockets {
        if client.is_none_or(|c| c == sid) {
            let _ = tx.send(text.clone());
        }
    }
}

fn start_worker(state: &Arc<ComfyState>) {
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
