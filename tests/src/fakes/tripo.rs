//! Fake Tripo 3D OpenAPI: uploads, task create and query with progress, expiring model and
//! preview URLs, balance, and the account's limit of 10 active tasks, speaking the contract
//! of providers.md §3 and §6. Served at the root: the fake's base URL stands for
//! `https://api.tripo3d.ai/v2/openapi`.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::common::{
    self, Core, Endpoint, Provider, ServerTask, char_len, json_reply, lock, make_png,
    new_request_id, oss_denied, png_reply, set_header, unix_secs,
};

const OUTPUT_PREFIX: &str = "/tp-output/";
/// The bucket STS uploads go to; the fake serves it itself, path style.
pub const STS_BUCKET: &str = "tripo-data";
/// Largest object an STS grant allows (§3.2).
const STS_MAX_BYTES: usize = 20 * 1024 * 1024;
pub const TRACE_HEADER: &str = "x-tripo-trace-id";
pub const LIMIT_MESSAGE: &str = "You have exceeded the limit of generation";
pub const CREDITS_MESSAGE: &str = "You don't have enough credit to perform this action";

/// `model_version`s the fake accepts (§3.3).
pub const MODEL_VERSIONS: &[&str] = &[
    "Turbo-v1.0-20250506",
    "v3.0-20250812",
    "v3.1-20260211",
    "P1-20260311",
    "v2.5-20250123",
    "v2.0-20240919",
    "v1.4-20240625",
];
const TASK_TYPES: &[&str] = &["text_to_model", "image_to_model", "multiview_to_model"];
/// Credits one task costs (held as `frozen` while it runs).
pub const TASK_COST: f64 = 20.0;

/// How a task ends.
#[derive(Debug, Clone, PartialEq)]
pub enum TpOutcome {
    Succeed,
    Failed { error_code: i64, error_msg: String },
    Banned,
    Expired,
    Cancelled,
    Unknown,
}

/// The life of one task: `queued` for `queued`, then `running` for `running`, then final.
#[derive(Debug, Clone, PartialEq)]
pub struct TpScript {
    pub queued: Duration,
    pub running: Duration,
    pub outcome: TpOutcome,
}

impl TpScript {
    /// A success after `duration`, the first fifth of it queued.
    pub fn succeed_after(duration: Duration) -> Self {
        Self::outcome_after(duration, TpOutcome::Succeed)
    }

    pub fn outcome_after(duration: Duration, outcome: TpOutcome) -> Self {
        TpScript {
            queued: duration / 5,
            running: duration - duration / 5,
            outcome,
        }
    }

    fn total(&self) -> Duration {
        self.queued + self.running
    }
}

#[derive(Debug, PartialEq)]
enum Phase {
    Queued,
    Running,
    Done,
}

#[derive(Debug)]
struct TpTask {
    key: String,
    kind: String,
    created: Instant,
    created_at: SystemTime,
    script: TpScript,
    input: Value,
    quad: bool,
    pbr: bool,
    /// Signatures of the output links handed out so far, with when each expires. Every
    /// query of a finished task hands out fresh ones.
    links: HashMap<String, Instant>,
    /// `X-Tripo-Trace-ID` of every reply about this task: the create, then each query.
    traces: Vec<String>,
}

impl TpTask {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        if elapsed < self.script.queued {
            Phase::Queued
        } else if elapsed < self.script.total() {
            Phase::Running
        } else {
            Phase::Done
        }
    }
}

#[derive(Debug)]
struct Inner {
    keys: Vec<String>,
    default_script: TpScript,
    next_scripts: VecDeque<TpScript>,
    tasks: HashMap<String, TpTask>,
    order: Vec<String>,
    max_active: Option<usize>,
    max_active_seen: usize,
    balance: f64,
    upload_404: bool,
    /// Both multipart endpoints answer 404: only the STS token route works.
    multipart_404: bool,
    /// Outstanding STS grants by object key: (access key id, session token).
    sts_grants: HashMap<String, (String, String)>,
    /// Objects PUT with an STS grant, by key.
    objects: HashMap<String, Bytes>,
    /// This many of the next link sets are handed out already expired.
    expire_next_links: u32,
    /// Uploaded files by image token.
    uploads: HashMap<String, Bytes>,
}

#[derive(Debug)]
struct TpState {
    core: Core,
    inner: Mutex<Inner>,
}

/// A running fake Tripo server on loopback. Dereferences to [`Core`] for the request log,
/// fault injection, delays and URL lifetime (default 5 minutes after success).
#[derive(Debug)]
pub struct TripoFake {
    state: Arc<TpState>,
    _server: ServerTask,
}

impl Deref for TripoFake {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.state.core
    }
}

impl TripoFake {
    /// Start on an ephemeral loopback port. Test helper: panics if loopback cannot be bound.
    pub async fn start() -> Self {
        match Self::bind(common::ephemeral()).await {
            Ok(f) => f,
            Err(e) => panic!("fake Tripo: cannot bind 127.0.0.1: {e}"),
        }
    }

    /// Start on `addr` (port 0 = ephemeral).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let (listener, local) = common::bind(addr).await?;
        let state = Arc::new(TpState {
            core: Core::new(local, Duration::from_secs(5 * 60)),
            inner: Mutex::new(Inner {
                keys: vec![format!("tsk_{}", uuid::Uuid::now_v7().simple())],
                default_script: TpScript::succeed_after(Duration::from_millis(300)),
                next_scripts: VecDeque::new(),
                tasks: HashMap::new(),
                order: Vec::new(),
                max_active: Some(10),
                max_active_seen: 0,
                balance: 10_000.0,
                upload_404: false,
                multipart_404: false,
                sts_grants: HashMap::new(),
                objects: HashMap::new(),
                expire_next_links: 0,
                uploads: HashMap::new(),
            }),
        });
        let router = Router::new()
            .route("/upload", post(upload))
            .route("/upload/sts", post(upload))
            .route("/upload/sts/token", post(sts_token))
            .route(&format!("/{STS_BUCKET}/{{*key}}"), put(s3_put))
            .route("/user/balance", get(balance))
            .route("/task", post(create))
            .route("/task/{task_id}", get(query))
            .route("/tp-output/{task_id}/{file}", get(download))
            .fallback(not_found);
        let server = common::serve(listener, router, state.clone());
        Ok(TripoFake {
            state,
            _server: server,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.state.inner)
    }

    /// The key the fake accepts (`tsk_…`).
    pub fn key(&self) -> String {
        self.inner().keys[0].clone()
    }

    /// Accept only this key from now on (a key kept across restarts of the fake).
    pub fn set_key(&self, key: impl Into<String>) {
        self.inner().keys = vec![key.into()];
    }

    /// Accept another key too; its tasks are invisible to the first key and vice versa.
    pub fn add_key(&self) -> String {
        let key = format!("tsk_{}", uuid::Uuid::now_v7().simple());
        self.inner().keys.push(key.clone());
        key
    }

    /// Script for every task without a queued script (default: success after 300 ms).
    pub fn set_script(&self, script: TpScript) {
        self.inner().default_script = script;
    }

    pub fn set_duration(&self, duration: Duration) {
        self.set_script(TpScript::succeed_after(duration));
    }

    /// Script for the next create only; queued scripts are used in order.
    pub fn script_next(&self, script: TpScript) {
        self.inner().next_scripts.push_back(script);
    }

    /// Tasks queued or running at once per account (default 10); over it 429 code 2000.
    pub fn set_max_active(&self, max: Option<usize>) {
        self.inner().max_active = max;
    }

    /// The most tasks that were queued or running at the same time.
    pub fn max_active_seen(&self) -> usize {
        self.inner().max_active_seen
    }

    /// Account balance in credits (default 10 000; a task costs [`TASK_COST`]). Below the
    /// cost, creates get 403 code 2010.
    pub fn set_balance(&self, balance: f64) {
        self.inner().balance = balance;
    }

    /// When on, `POST /upload` answers 404 (only `/upload/sts` works), as on deployments
    /// that renamed it.
    pub fn set_upload_404(&self, on: bool) {
        self.inner().upload_404 = on;
    }

    /// The next `n` replies listing a task's outputs hand out links that have already
    /// expired, as if the reply had waited past the link lifetime before it was read.
    pub fn expire_next_links(&self, n: u32) {
        self.inner().expire_next_links = n;
    }

    /// How many sets of output links the fake handed out for this task (one per query of
    /// the finished task).
    pub fn links_issued(&self, task_id: &str) -> usize {
        self.inner().tasks.get(task_id).map_or(0, |t| t.links.len())
    }

    /// When on, both `/upload` and `/upload/sts` answer 404, so images can only go through
    /// `/upload/sts/token` and a PUT to the (fake) object storage.
    pub fn set_multipart_upload_404(&self, on: bool) {
        self.inner().multipart_404 = on;
    }

    /// The bytes PUT under this key with an STS grant.
    pub fn sts_object(&self, key: &str) -> Option<Bytes> {
        self.inner().objects.get(key).cloned()
    }

    /// The `X-Tripo-Trace-ID` of every reply about this task: its create first, then each
    /// query in order.
    pub fn trace_ids(&self, task_id: &str) -> Vec<String> {
        self.inner()
            .tasks
            .get(task_id)
            .map_or_else(Vec::new, |t| t.traces.clone())
    }

    /// The bytes of every upload, in no particular order.
    pub fn uploaded_files(&self) -> Vec<Bytes> {
        self.inner().uploads.values().cloned().collect()
    }

    /// Ids of created tasks, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        self.inner().order.clone()
    }

    /// The request body of a created task.
    pub fn task_input(&self, task_id: &str) -> Option<Value> {
        self.inner().tasks.get(task_id).map(|t| t.input.clone())
    }

    /// Wait until `n` tasks have been created; false on timeout.
    pub async fn wait_for_tasks(&self, n: usize, timeout: Duration) -> bool {
        self.state
            .core
            .wait_until(timeout, || self.inner().order.len() >= n)
            .await
    }

    /// The GLB the fake serves for this task's `model`.
    pub fn model_bytes(task_id: &str) -> Bytes {
        glb(task_id)
    }
}

impl Provider for TpState {
    fn core(&self) -> &Core {
        &self.core
    }

    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if path == "/upload" || path.starts_with("/upload/") || path.starts_with("/tripo-data/") {
            (Endpoint::Upload, None)
        } else if method == Method::POST && path == "/task" {
            (Endpoint::Submit, None)
        } else if let Some(id) = path.strip_prefix("/task/") {
            (Endpoint::Poll, Some(id.to_string()))
        } else if path == "/user/balance" {
            (Endpoint::Balance, None)
        } else if let Some(rest) = path.strip_prefix(OUTPUT_PREFIX) {
            let id = rest.split('/').next().unwrap_or_default();
            (Endpoint::Download, Some(id.to_string()))
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let mut r = error(StatusCode::TOO_MANY_REQUESTS, 2000, LIMIT_MESSAGE);
        if let Some(s) = retry_after {
            set_header(r.headers_mut(), "retry-after", &s.to_string());
        }
        r
    }

    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response {
        if endpoint == Endpoint::Download {
            return (status, "internal error").into_response();
        }
        error(status, 1000, "Internal server error")
    }
}

/// A code-envelope reply with a trace id.
fn reply(status: StatusCode, body: &Value) -> Response {
    traced(status, body, &new_request_id())
}

fn traced(status: StatusCode, body: &Value, trace: &str) -> Response {
    let mut r = json_reply(status, body);
    set_header(r.headers_mut(), TRACE_HEADER, trace);
    r
}

fn ok(data: Value) -> Response {
    reply(StatusCode::OK, &json!({"code": 0, "data": data}))
}

/// A success reply about one task, its trace id remembered on the task.
fn ok_task(task: Option<&mut TpTask>, data: Value) -> Response {
    let trace = new_request_id();
    if let Some(t) = task {
        t.traces.push(trace.clone());
    }
    traced(StatusCode::OK, &json!({"code": 0, "data": data}), &trace)
}

/// `{"code","message","suggestion"}` with this status (§3.1).
fn error(status: StatusCode, code: i64, message: &str) -> Response {
    reply(
        status,
        &json!({"code": code, "message": message,
            "suggestion": "See https://platform.tripo3d.ai/docs/error-code"}),
    )
}

fn bad(code: i64, message: impl AsRef<str>) -> Response {
    error(StatusCode::BAD_REQUEST, code, message.as_ref())
}

async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, 404, "Not Found")
}

/// The caller's key when the fake accepts it; else the 401 code 1002 reply.
/// (Boxed: a `Response` is large.)
fn auth(state: &TpState, headers: &HeaderMap) -> Result<String, Box<Response>> {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    if lock(&state.inner).keys.iter().any(|k| k == given) {
        Ok(given.to_string())
    } else {
        Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            1002,
            "Authentication failed: the API key is missing or invalid",
        )))
    }
}

/// The `file` part of a `multipart/form-data` body.
fn multipart_file(headers: &HeaderMap, body: &[u8]) -> Option<Bytes> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !ct.starts_with("multipart/form-data") {
        return None;
    }
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    for w in starts.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        let sep = part.windows(4).position(|x| x == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..sep]);
        if !head.contains("name=\"file\"") {
            continue;
        }
        let content = &part[sep + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        return Some(Bytes::copy_from_slice(content));
    }
    None
}

fn is_image(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"\x89PNG\r\n\x1a\n")
        || (b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP")
}

async fn upload(
    State(state): State<Arc<TpState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let gone = {
        let i = lock(&state.inner);
        i.multipart_404 || (uri.path() == "/upload" && i.upload_404)
    };
    if gone {
        return not_found().await;
    }
    if let Err(r) = auth(&state, &headers) {
        return *r;
    }
    let Some(file) = multipart_file(&headers, &body) else {
        return bad(
            1003,
            "The request body must be multipart/form-data with a file field",
        );
    };
    if file.is_empty() {
        return bad(2003, "The uploaded file is empty");
    }
    if !is_image(&file) {
        return bad(2004, "Unsupported file type: use webp, jpeg or png");
    }
    let token = uuid::Uuid::now_v7().to_string();
    lock(&state.inner).uploads.insert(token.clone(), file);
    ok(json!({"image_token": token}))
}

/// `POST /upload/sts/token` `{"format"}`: temporary credentials for one object in the fake's
/// own bucket (§3.2), `s3_host` being the fake itself (with its `http://` scheme: it has no
/// TLS).
async fn sts_token(State(state): State<Arc<TpState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = auth(&state, &headers) {
        return *r;
    }
    let format = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_string));
    let formats = ["webp", "jpeg", "png", "glb", "obj", "fbx", "stl"];
    let Some(format) = format.filter(|f| formats.contains(&f.as_str())) else {
        return bad(
            1004,
            "format must be one of webp, jpeg, png, glb, obj, fbx, stl",
        );
    };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let key = format!("openapi/uploads/{id}.{format}");
    let ak = format!("ASIAFAKE{}", &id[..12].to_ascii_uppercase());
    let sk = uuid::Uuid::now_v7().simple().to_string();
    let token = format!("fake-session-{}", uuid::Uuid::now_v7().simple());
    lock(&state.inner)
        .sts_grants
        .insert(key.clone(), (ak.clone(), token.clone()));
    ok(json!({
        "s3_host": state.core.base_url(),
        "resource_bucket": STS_BUCKET,
        "resource_uri": key,
        "session_token": token,
        "sts_ak": ak,
        "sts_sk": sk,
    }))
}

/// An S3 XML error.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message></Error>"
        ),
    )
        .into_response()
}

/// PutObject into the STS bucket: the key must have a grant, the request must be SigV4 with
/// the grant's access key id, and carry (and sign) its session token.
async fn s3_put(
    State(state): State<Arc<TpState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut i = lock(&state.inner);
    let Some((ak, token)) = i.sts_grants.get(&key).cloned() else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    };
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let authz = h("authorization");
    let signed = authz
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    if !authz.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ak}/")) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        );
    }
    if h("x-amz-security-token") != token {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        );
    }
    let unsigned = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-"))
        .any(|n| !signed.split(';').any(|s| s == n));
    if unsigned {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "There were headers present in the request which were not signed",
        );
    }
    if body.is_empty() || body.len() > STS_MAX_BYTES {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        );
    }
    i.objects.insert(key, body);
    (StatusCode::OK, [(header::ETAG, "\"fake-etag\"")]).into_response()
}

async fn balance(State(state): State<Arc<TpState>>, headers: HeaderMap) -> Response {
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

async fn create(State(state): State<Arc<TpState>>, headers: HeaderMap, body: Bytes) -> Response {
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
    match kind.as_str() {
        "text_to_model" => {
            let prompt = input.get("prompt").and_then(Value::as_str).unwrap_or("");
            if prompt.trim().is_empty() || char_len(prompt) > 1024 {
                return bad(1004, "prompt must be 1 to 1024 characters");
            }
            if let Some(n) = input.get("negative_prompt")
                && n.as_str().is_none_or(|n| char_len(n) > 255)
            {
                return bad(1004, "negative_prompt must be at most 255 characters");
            }
        }
        "image_to_model" => {
            let Some(file) = input.get("file") else {
                return bad(1004, "image_to_model needs file");
            };
            if let Err(r) = check_file(&i, file, "file") {
                return *r;
            }
        }
        _ => {
            let files = input.get("files").and_then(Value::as_array);
            let Some(files) = files.filter(|f| f.len() == 4) else {
                return bad(
                    1004,
                    "files must have exactly 4 entries [front, left, back, right]",
                );
            };
            let given: Vec<usize> = (0..4)
                .filter(|k| files[*k].as_object().is_some_and(|o| !o.is_empty()))
                .collect();
            if !given.contains(&0) || given.len() < 2 {
                return bad(1004, "files needs the front image and at least one more");
            }
            for k in given {
                if let Err(r) = check_file(&i, &files[k], &format!("files[{k}]")) {
                    return *r;
                }
            }
        }
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
    let script = i
        .next_scripts
        .pop_front()
        .unwrap_or_else(|| i.default_script.clone());
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
    i.order.push(task_id.clone());
    let reply = ok_task(i.tasks.get_mut(&task_id), json!({"task_id": task_id}));
    drop(i);
    state.core.notify();
    reply
}

async fn query(
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
                    let base = state.core.base_url();
                    let url = |file: &str| {
                        format!(
                            "{base}{OUTPUT_PREFIX}{task_id}/{file}?Expires={expires}&Signature={sig}"
                        )
                    };
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
                    data["status"] = json!("success");
                    data["progress"] = json!(100);
                    data["output"] = output;
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

/// The task's input as the query echoes it (prompt and options, no file tokens).
fn public_input(input: &Value) -> Value {
    let mut v = input.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("file");
        o.remove("files");
    }
    v
}

async fn download(
    State(state): State<Arc<TpState>>,
    Path((task_id, file)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let i = lock(&state.inner);
    let missing = || oss_denied("NoSuchKey", "The specified key does not exist.");
    let Some(task) = i.tasks.get(&task_id) else {
        return missing();
    };
    let expires = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("Signature=")))
        .and_then(|sig| task.links.get(sig));
    let Some(expires) = expires else {
        return oss_denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    };
    let now = Instant::now();
    if task.phase(now) != Phase::Done || task.script.outcome != TpOutcome::Succeed {
        return missing();
    }
    if now >= *expires {
        return oss_denied("AccessDenied", "Request has expired.");
    }
    match file.as_str() {
        "model.glb" | "pbr.glb" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "model/gltf-binary")],
            glb(&format!("{task_id}/{file}")),
        )
            .into_response(),
        "model.fbx" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            fbx(&task_id),
        )
            .into_response(),
        "preview.png" => png_reply(make_png(&format!("tripo/{task_id}/preview"))),
        _ => missing(),
    }
}

/// A valid binary glTF 2.0: header (`glTF`, version 2, total length), a JSON chunk and a
/// BIN chunk whose bytes derive from `seed`.
pub fn glb(seed: &str) -> Bytes {
    let mut json = serde_json::to_vec(&json!({
        "asset": {"version": "2.0", "generator": "fake-tripo"},
        "buffers": [{"byteLength": 64}],
        "extras": {"seed": seed},
    }))
    .unwrap_or_default();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let bin: Vec<u8> = seed
        .bytes()
        .cycle()
        .take(64)
        .enumerate()
        .map(|(k, b)| b.wrapping_add(k as u8))
        .collect();
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&0x4E4F_534Au32.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(&0x004E_4942u32.to_le_bytes());
    out.extend_from_slice(&bin);
    Bytes::from(out)
}

/// The start of a binary FBX file (magic and version), enough for type checks.
fn fbx(seed: &str) -> Bytes {
    let mut out = b"Kaydara FBX Binary  \x00\x1a\x00".to_vec();
    out.extend_from_slice(&7400u32.to_le_bytes());
    out.extend_from_slice(seed.as_bytes());
    out.resize(256, 0);
    Bytes::from(out)
}
