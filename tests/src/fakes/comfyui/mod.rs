//! A fake ComfyUI server (comfyui.md): `POST /prompt` validates the API-format graph against
//! a small class table and answers the 400 shapes of §3.2; one prompt runs at a time from an
//! in-memory queue, reporting on the websocket `/ws?clientId=` (`status` first with the
//! `sid`, then `execution_start`, `progress` 1…steps, `executed`, `execution_success`, the
//! history written, `executing {node: null}`) to the socket of the prompt's `client_id`;
//! `/queue`, `/history/{id}` (`{}` when unknown), `/view` serving real PNGs and uploaded
//! inputs, `/upload/image` ([`upload`]), `/interrupt`, queue deletes; routes also under `/api`. `restart()` loses the queue, history and sockets
//! as a real restart does. The shared faults (slow, 500, …) apply.

mod run;
mod upload;
mod validate;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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

use super::common::{json_reply, lock};
use super::control::{Core, Endpoint};
use super::server::{Fake, Provider, Served};
use run::start_worker;
use upload::{file_key, upload_image};
use validate::{refused, validate};

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

/// An image-to-image workflow in API format (comfyui.md §11): `LoadImage` → `VAEEncode` →
/// the sampler's latent, `denoise` below 1.
pub const IMG2IMG_WORKFLOW: &str = r#"{
  "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
  "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "placeholder"}},
  "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": ""}},
  "10": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
  "11": {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["1", 2]}},
  "5": {"class_type": "KSampler", "inputs": {"model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["11", 0], "seed": 1, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
        "scheduler": "normal", "denoise": 0.6}},
  "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
  "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "genq"}}
}"#;

/// The config lines binding the prompt, seed and input image to [`IMG2IMG_WORKFLOW`].
pub const IMG2IMG_BINDINGS: &str =
    "prompt = \"2.inputs.text\"\nseed = \"5.inputs.seed\"\nimage = \"10.inputs.image\"\n";

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
    /// Uploaded files by (folder type, `subfolder/name`).
    inputs: HashMap<(String, String), Bytes>,
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
                .route(&format!("{prefix}/upload/image"), post(upload_image))
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
        } else if path == "/upload/image" {
            (Endpoint::Upload, None)
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

    /// A restart: the queue, the running prompt, the history, every socket and `temp/` are
    /// lost; uploaded inputs and outputs stay on disk.
    pub fn restart(&self) {
        let mut inner = lock(&self.state().inner);
        inner.inputs.retain(|(kind, _), _| kind != "temp");
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

    /// The bytes of the file uploaded into `input/` as `path` (`subfolder/name` or `name`).
    pub fn input_file(&self, path: &str) -> Option<Bytes> {
        lock(&self.state().inner)
            .inputs
            .get(&("input".to_string(), path.to_string()))
            .cloned()
    }

    /// How many files were uploaded into `input/`, after renaming and deduplication.
    pub fn input_count(&self) -> usize {
        let inner = lock(&self.state().inner);
        inner.inputs.keys().filter(|(k, _)| k == "input").count()
    }

    /// Whether a prompt is running now.
    pub fn is_running(&self) -> bool {
        lock(&self.state().inner).running.is_some()
    }
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
    let uploaded = |path: &str| {
        lock(&state.inner)
            .inputs
            .contains_key(&("input".to_string(), path.to_string()))
    };
    if let Some(reply) = validate(graph, &uploaded) {
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
    let subfolder = q.get("subfolder").map(String::as_str).unwrap_or_default();
    let inner = lock(&state.inner);
    let kind = match q.get("type").map(String::as_str) {
        None => "output",
        Some(kind @ ("output" | "input" | "temp")) => kind,
        Some(_) => return StatusCode::BAD_REQUEST.into_response(),
    };
    let made = (kind == "output" && subfolder.is_empty())
        .then(|| inner.files.get(name))
        .flatten();
    let file = made.or_else(|| inner.inputs.get(&file_key(kind, subfolder, name)));
    let content_type = match name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()) {
        Some(e) if e == "png" => "image/png",
        Some(e) if e == "jpg" || e == "jpeg" => "image/jpeg",
        Some(e) if e == "webp" => "image/webp",
        _ => "application/octet-stream",
    };
    match file {
        Some(png) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, content_type.to_string()),
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
