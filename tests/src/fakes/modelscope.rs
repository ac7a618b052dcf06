//! Fake ModelScope API-Inference image generation (async mode): submit, poll, balance and the
//! output images, speaking the contract of providers.md §1 and §6.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::common::{
    self, Core, Endpoint, Fault, Provider, ServerTask, char_len, json_reply, lock, make_png,
    new_request_id, oss_denied, png_reply, set_header,
};

const SUBMIT_PATH: &str = "/v1/images/generations";
const BALANCE_PATH: &str = "/openapi/v1/magicubes/balance";
const OUTPUT_PREFIX: &str = "/ms-output/";

/// Exact body of §1.2 for a submit without `X-ModelScope-Async-Mode: true`.
pub const SYNC_NOT_SUPPORTED: &str = "image-gen task currently does not support synchronous calls. Please refer to the documentation and set header X-ModelScope-Async-Mode=true to switch to asynchronous calling mode";
/// Message of the 422 content-policy failure.
pub const INAPPROPRIATE: &str = "Output data may contain inappropriate content.";
/// Message of every ModelScope 429.
pub const LIMIT_EXCEEDED: &str = "Request limit exceeded.";

/// How a task ends once its duration has passed.
#[derive(Debug, Clone, PartialEq)]
pub enum MsOutcome {
    /// `SUCCEED` with one output image URL.
    Succeed,
    /// `FAILED` with `errors.code` 422 "Output data may contain inappropriate content."
    ContentPolicy,
    /// `FAILED` with this `errors.code` and `errors.message`.
    Failed { code: i64, message: String },
    /// `CANCEL`.
    Cancel,
    /// `UNKNOWN`.
    Unknown,
    /// This status string forever (an undocumented value a client must treat as running).
    Status(String),
    /// Stays in the running status forever.
    Never,
}

/// The life of one task, measured from its submit.
#[derive(Debug, Clone, PartialEq)]
pub struct MsScript {
    /// Time from submit to the final status.
    pub duration: Duration,
    /// How long polls answer "task not found" first; `None` = a quarter of `duration`.
    pub not_found_for: Option<Duration>,
    /// Status while running; `None` = `RUNNING` or `PROCESSING` (alternating between tasks).
    pub running_status: Option<String>,
    pub outcome: MsOutcome,
}

impl MsScript {
    /// Succeeds after `duration`.
    pub fn succeed_after(duration: Duration) -> Self {
        MsScript {
            duration,
            not_found_for: None,
            running_status: None,
            outcome: MsOutcome::Succeed,
        }
    }

    /// Ends with `outcome` after `duration`.
    pub fn outcome_after(duration: Duration, outcome: MsOutcome) -> Self {
        MsScript {
            outcome,
            ..MsScript::succeed_after(duration)
        }
    }
}

/// Shape of issued task ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdStyle {
    Uuid,
    /// A numeric string such as `"4213726"`.
    Numeric,
    /// UUID, numeric, UUID, … (the default).
    Alternate,
}

/// Whether the submit reply carries `"task_status":"SUCCEED"` (which only means accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EchoSucceed {
    Never,
    Always,
    /// Every other submit (the default).
    Alternate,
}

#[derive(Debug)]
struct MsTask {
    seq: u64,
    key: String,
    created: Instant,
    script: MsScript,
    cost: f64,
    png: Bytes,
}

#[derive(Debug, PartialEq)]
enum Phase {
    NotFound,
    Pending,
    Running,
    Done,
}

impl MsTask {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        let d = self.script.duration;
        let nf = self.script.not_found_for.unwrap_or(d / 4).min(d);
        let pending_end = nf + (d - nf) * 3 / 10;
        if elapsed < nf {
            Phase::NotFound
        } else if elapsed < pending_end {
            Phase::Pending
        } else if elapsed < d || self.script.outcome == MsOutcome::Never {
            Phase::Running
        } else {
            Phase::Done
        }
    }

    /// Whether the task still holds the token's slot and frozen points.
    fn in_flight(&self, now: Instant) -> bool {
        self.phase(now) != Phase::Done
    }

    fn running_status(&self) -> String {
        match &self.script.running_status {
            Some(s) => s.clone(),
            None if self.seq.is_multiple_of(2) => "RUNNING".into(),
            None => "PROCESSING".into(),
        }
    }
}

#[derive(Debug)]
struct Inner {
    key: String,
    default_script: MsScript,
    next_scripts: VecDeque<MsScript>,
    id_style: IdStyle,
    echo: EchoSucceed,
    seq: u64,
    tasks: HashMap<String, MsTask>,
    order: Vec<String>,
    user_limit: u32,
    model_limit: u32,
    used_user: u32,
    used_model: HashMap<String, u32>,
    quota_retry_after: Option<u64>,
    single_concurrency: bool,
    balance: f64,
}

#[derive(Debug)]
struct MsState {
    core: Core,
    inner: Mutex<Inner>,
}

/// A running fake ModelScope API-Inference server on loopback. Dereferences to [`Core`] for the
/// request log, fault injection, delays and URL lifetime.
#[derive(Debug)]
pub struct ModelScopeFake {
    state: Arc<MsState>,
    _server: ServerTask,
}

impl Deref for ModelScopeFake {
    type Target = Core;
    fn deref(&self) -> &Core {
        &self.state.core
    }
}

impl ModelScopeFake {
    /// Start on an ephemeral loopback port. Test helper: panics if loopback cannot be bound.
    pub async fn start() -> Self {
        match Self::bind(common::ephemeral()).await {
            Ok(f) => f,
            Err(e) => panic!("fake ModelScope: cannot bind 127.0.0.1: {e}"),
        }
    }

    /// Start on `addr` (port 0 = ephemeral).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        let (listener, local) = common::bind(addr).await?;
        let state = Arc::new(MsState {
            core: Core::new(local, Duration::from_secs(3600)),
            inner: Mutex::new(Inner {
                key: format!("ms-{}", uuid::Uuid::now_v7()),
                default_script: MsScript::succeed_after(Duration::from_millis(200)),
                next_scripts: VecDeque::new(),
                id_style: IdStyle::Alternate,
                echo: EchoSucceed::Alternate,
                seq: 0,
                tasks: HashMap::new(),
                order: Vec::new(),
                user_limit: 2000,
                model_limit: 200,
                used_user: 0,
                used_model: HashMap::new(),
                quota_retry_after: None,
                single_concurrency: false,
                balance: 250.0,
            }),
        });
        let router = Router::new()
            .route(SUBMIT_PATH, post(submit))
            .route("/v1/tasks/{task_id}", get(poll))
            .route(BALANCE_PATH, get(balance))
            .route("/ms-output/{task_id}/{file}", get(download));
        let server = common::serve(listener, router, state.clone());
        Ok(ModelScopeFake {
            state,
            _server: server,
        })
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        lock(&self.state.inner)
    }

    /// The key the fake currently accepts (`ms-…`).
    pub fn key(&self) -> String {
        self.inner().key.clone()
    }

    /// Accept only this key from now on; requests with any other key get 401.
    pub fn set_key(&self, key: impl Into<String>) {
        self.inner().key = key.into();
    }

    /// Script for every task without a queued script (default: succeed after 200 ms).
    pub fn set_script(&self, script: MsScript) {
        self.inner().default_script = script;
    }

    /// Shortcut: default script succeeding after `duration`.
    pub fn set_duration(&self, duration: Duration) {
        self.set_script(MsScript::succeed_after(duration));
    }

    /// Script for the next submit only; queued scripts are used in order.
    pub fn script_next(&self, script: MsScript) {
        self.inner().next_scripts.push_back(script);
    }

    pub fn set_id_style(&self, style: IdStyle) {
        self.inner().id_style = style;
    }

    pub fn set_echo_succeed(&self, echo: EchoSucceed) {
        self.inner().echo = echo;
    }

    /// Daily call limits per user and per model (defaults 2000 and 200). Submits past either
    /// get 429 with remaining `0`.
    pub fn set_daily_limits(&self, user: u32, per_model: u32) {
        let mut i = self.inner();
        i.user_limit = user;
        i.model_limit = per_model;
    }

    /// Start a new day: the daily counters go back to zero.
    pub fn reset_daily_counters(&self) {
        let mut i = self.inner();
        i.used_user = 0;
        i.used_model.clear();
    }

    /// `Retry-After` seconds sent with the spent-quota 429 (default none).
    pub fn set_quota_retry_after(&self, secs: Option<u64>) {
        self.inner().quota_retry_after = secs;
    }

    /// When on, a submit while another task of the same key is in flight gets 429.
    pub fn set_single_concurrency(&self, on: bool) {
        self.inner().single_concurrency = on;
    }

    /// Total Magicube points of the account (default 250).
    pub fn set_balance(&self, points: f64) {
        self.inner().balance = points;
    }

    /// Ids of accepted tasks, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        self.inner().order.clone()
    }

    /// The PNG the task's output URL serves (also before it is reachable).
    pub fn output_png(&self, task_id: &str) -> Option<Bytes> {
        self.inner().tasks.get(task_id).map(|t| t.png.clone())
    }

    /// Wait until `n` tasks have been accepted; false on timeout.
    pub async fn wait_for_tasks(&self, n: usize, timeout: Duration) -> bool {
        self.state
            .core
            .wait_until(timeout, || self.inner().order.len() >= n)
            .await
    }
}

impl Provider for MsState {
    fn core(&self) -> &Core {
        &self.core
    }

    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if method == Method::POST && path == SUBMIT_PATH {
            (Endpoint::Submit, None)
        } else if let Some(id) = path.strip_prefix("/v1/tasks/") {
            (Endpoint::Poll, Some(id.to_string()))
        } else if path == BALANCE_PATH {
            (Endpoint::Balance, None)
        } else if let Some(rest) = path.strip_prefix(OUTPUT_PREFIX) {
            let id = rest.split('/').next().unwrap_or_default();
            (Endpoint::Download, Some(id.to_string()))
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let (user_left, model_left, user_limit, model_limit) = {
            let i = lock(&self.inner);
            (
                i.user_limit.saturating_sub(i.used_user),
                i.model_limit,
                i.user_limit,
                i.model_limit,
            )
        };
        limit_exceeded(user_limit, user_left, model_limit, model_left, retry_after)
    }

    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response {
        if endpoint == Endpoint::Download {
            return (status, "internal error").into_response();
        }
        errors_reply(
            status,
            Some(i64::from(status.as_u16())),
            "Internal server error, please retry later.",
        )
    }
}

/// `{"errors":{"code"?,"message"},"request_id"}` with this status.
fn errors_reply(status: StatusCode, code: Option<i64>, message: &str) -> Response {
    let errors = match code {
        Some(c) => json!({"code": c, "message": message}),
        None => json!({"message": message}),
    };
    json_reply(
        status,
        &json!({"errors": errors, "request_id": new_request_id()}),
    )
}

fn ratelimit_headers(
    headers: &mut HeaderMap,
    user_limit: u32,
    user_left: u32,
    model_limit: u32,
    model_left: u32,
) {
    set_header(
        headers,
        "modelscope-ratelimit-requests-limit",
        &user_limit.to_string(),
    );
    set_header(
        headers,
        "modelscope-ratelimit-requests-remaining",
        &user_left.to_string(),
    );
    set_header(
        headers,
        "modelscope-ratelimit-model-requests-limit",
        &model_limit.to_string(),
    );
    set_header(
        headers,
        "modelscope-ratelimit-model-requests-remaining",
        &model_left.to_string(),
    );
}

/// The 429 of §1.5: body with `request_id` inside `errors`, the four rate-limit headers.
fn limit_exceeded(
    user_limit: u32,
    user_left: u32,
    model_limit: u32,
    model_left: u32,
    retry_after: Option<u64>,
) -> Response {
    let mut resp = json_reply(
        StatusCode::TOO_MANY_REQUESTS,
        &json!({"errors": {"message": LIMIT_EXCEEDED, "request_id": new_request_id()}}),
    );
    ratelimit_headers(
        resp.headers_mut(),
        user_limit,
        user_left,
        model_limit,
        model_left,
    );
    if let Some(s) = retry_after {
        set_header(resp.headers_mut(), "retry-after", &s.to_string());
    }
    resp
}

/// 401 unless `Authorization: Bearer <current key>`.
fn check_auth(state: &MsState, headers: &HeaderMap) -> Option<Response> {
    let key = lock(&state.inner).key.clone();
    match headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        None => Some(errors_reply(
            StatusCode::UNAUTHORIZED,
            Some(401),
            "Authentication failed: no API token provided. Send Authorization: Bearer <ModelScope access token>.",
        )),
        Some(k) if k.trim() == key => None,
        Some(_) => Some(errors_reply(
            StatusCode::UNAUTHORIZED,
            Some(401),
            "Authentication failed: invalid API token.",
        )),
    }
}

fn header_is(headers: &HeaderMap, name: &str, want: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

/// Allowed side range of `size` for a model family (§1.2).
fn size_range(model: &str) -> (u32, u32) {
    let m = model.to_ascii_lowercase();
    if m.contains("qwen-image") {
        (64, 1664)
    } else if m.contains("z-image") {
        (512, 2048)
    } else if m.contains("flux") || m.contains("majicflus") || m.contains("kontext") {
        (64, 1024)
    } else {
        (64, 2048)
    }
}

fn parse_wxh(s: &str, sep: char) -> Option<(u32, u32)> {
    let (w, h) = s.split_once(sep)?;
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !digits(w) || !digits(h) {
        return None;
    }
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// The submit body rules of §1.2; the message becomes `errors.message` of a 400.
fn validate(body: &Value) -> Result<String, String> {
    let obj = body
        .as_object()
        .ok_or("request body must be a JSON object")?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(_) => return Err("model must be a non-empty string".into()),
        None => return Err("model is required".into()),
    };
    let valid_id = model
        .split_once('/')
        .is_some_and(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
        && !model.contains(char::is_whitespace);
    if !valid_id {
        return Err(format!(
            "model '{model}' is not a valid ModelScope model id (owner/name)"
        ));
    }
    match obj.get("prompt") {
        Some(Value::String(p)) if p.trim().is_empty() => {
            return Err("prompt must not be empty".into());
        }
        Some(Value::String(p)) if char_len(p) >= 2000 => {
            return Err(format!(
                "prompt is {} characters long; it must be shorter than 2000",
                char_len(p)
            ));
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("prompt must be a string".into()),
        None => return Err("prompt is required".into()),
    }
    match obj.get("negative_prompt") {
        None | Some(Value::Null) => {}
        Some(Value::String(p)) if char_len(p) >= 2000 => {
            return Err("negative_prompt must be shorter than 2000 characters".into());
        }
        Some(Value::String(_)) => {}
        Some(_) => return Err("negative_prompt must be a string".into()),
    }
    if let Some(size) = obj.get("size").filter(|v| !v.is_null()) {
        let (lo, hi) = size_range(&model);
        let s = size
            .as_str()
            .ok_or("size must be a string like \"1024x1024\"")?;
        let (w, h) = parse_wxh(s, 'x').ok_or_else(|| {
            format!(
                "size '{s}' is invalid: use \"WIDTHxHEIGHT\" with a lowercase x, e.g. 1024x1024"
            )
        })?;
        if w < lo || h < lo || w > hi || h > hi {
            return Err(format!(
                "size '{s}' is out of range for {model}: {lo}x{lo} to {hi}x{hi}"
            ));
        }
    }
    if let Some(seed) = obj.get("seed").filter(|v| !v.is_null()) {
        match seed.as_i64() {
            Some(s) if (0..=i64::from(i32::MAX)).contains(&s) => {}
            _ => {
                return Err(format!(
                    "seed {seed} is invalid: an integer in [0, 2147483647]"
                ));
            }
        }
    }
    if let Some(steps) = obj.get("steps").filter(|v| !v.is_null()) {
        match steps.as_i64() {
            Some(s) if (1..=100).contains(&s) => {}
            _ => return Err(format!("steps {steps} is invalid: an integer in [1, 100]")),
        }
    }
    if let Some(g) = obj.get("guidance").filter(|v| !v.is_null()) {
        match g.as_f64() {
            Some(x) if (1.5..=20.0).contains(&x) => {}
            _ => return Err(format!("guidance {g} is invalid: a number in [1.5, 20]")),
        }
    }
    match obj.get("loras") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if !s.trim().is_empty() => {}
        Some(Value::Object(m)) => {
            if m.is_empty() || m.len() > 6 {
                return Err(format!(
                    "loras has {} entries: between 1 and 6 are allowed",
                    m.len()
                ));
            }
            let mut sum = 0.0;
            for (repo, w) in m {
                let w = w
                    .as_f64()
                    .ok_or_else(|| format!("lora weight for '{repo}' must be a number"))?;
                sum += w;
            }
            if (sum - 1.0).abs() > 1e-6 {
                return Err(format!("lora weights must sum to 1.0, got {sum}"));
            }
        }
        Some(_) => {
            return Err(
                "loras must be a repo id string or an object of at most 6 repo ids to weights summing to 1.0"
                    .into(),
            );
        }
    }
    Ok(model)
}

async fn submit(State(state): State<Arc<MsState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    if !header_is(&headers, "x-modelscope-async-mode", "true") {
        return errors_reply(StatusCode::BAD_REQUEST, None, SYNC_NOT_SUPPORTED);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return errors_reply(
                StatusCode::BAD_REQUEST,
                None,
                &format!("request body is not valid JSON: {e}"),
            );
        }
    };
    let model = match validate(&value) {
        Ok(m) => m,
        Err(msg) => return errors_reply(StatusCode::BAD_REQUEST, None, &msg),
    };

    let now = Instant::now();
    let mut i = lock(&state.inner);
    let used_model = i.used_model.get(&model).copied().unwrap_or(0);
    let user_left = i.user_limit.saturating_sub(i.used_user);
    let model_left = i.model_limit.saturating_sub(used_model);
    if user_left == 0 || model_left == 0 {
        return limit_exceeded(
            i.user_limit,
            user_left,
            i.model_limit,
            model_left,
            i.quota_retry_after,
        );
    }
    let key = i.key.clone();
    if i.single_concurrency && i.tasks.values().any(|t| t.key == key && t.in_flight(now)) {
        return limit_exceeded(
            i.user_limit,
            user_left,
            i.model_limit,
            model_left,
            i.quota_retry_after,
        );
    }
    i.used_user += 1;
    *i.used_model.entry(model.clone()).or_insert(0) += 1;
    let seq = i.seq;
    i.seq += 1;
    let numeric = match i.id_style {
        IdStyle::Uuid => false,
        IdStyle::Numeric => true,
        IdStyle::Alternate => !seq.is_multiple_of(2),
    };
    let task_id = if numeric {
        (4_213_726 + seq).to_string()
    } else {
        uuid::Uuid::now_v7().to_string()
    };
    let echo = match i.echo {
        EchoSucceed::Never => false,
        EchoSucceed::Always => true,
        EchoSucceed::Alternate => seq.is_multiple_of(2),
    };
    let script = i
        .next_scripts
        .pop_front()
        .unwrap_or_else(|| i.default_script.clone());
    let cost = if model.to_ascii_lowercase().contains("qwen-image") {
        2.0
    } else {
        1.0
    };
    let ends = (script.outcome != MsOutcome::Never).then_some(script.duration);
    let prompt = value["prompt"].as_str().map(str::to_string);
    state.core.flights().created(&task_id, prompt, ends);
    i.tasks.insert(
        task_id.clone(),
        MsTask {
            seq,
            key,
            created: now,
            script,
            cost,
            png: make_png(&format!("modelscope/{task_id}")),
        },
    );
    i.order.push(task_id.clone());
    state.core.notify();
    let mut reply = json!({"task_id": task_id, "request_id": new_request_id()});
    if echo {
        reply["task_status"] = json!("SUCCEED");
    }
    let mut resp = json_reply(StatusCode::OK, &reply);
    ratelimit_headers(
        resp.headers_mut(),
        i.user_limit,
        user_left - 1,
        i.model_limit,
        model_left - 1,
    );
    resp
}

fn task_not_found() -> Response {
    json_reply(
        StatusCode::OK,
        &json!({"errors": {"code": 500, "message": "task not found"}, "task_status": "FAILED"}),
    )
}

async fn poll(
    State(state): State<Arc<MsState>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    if !header_is(&headers, "x-modelscope-task-type", "image_generation") {
        return task_not_found();
    }
    let i = lock(&state.inner);
    let Some(task) = i.tasks.get(&task_id) else {
        return task_not_found();
    };
    let rid = new_request_id();
    let body = match task.phase(Instant::now()) {
        Phase::NotFound => return task_not_found(),
        Phase::Pending => {
            json!({"task_id": task_id, "request_id": rid, "task_status": "PENDING", "outputs": {}})
        }
        Phase::Running => json!({"task_id": task_id, "request_id": rid,
                "task_status": task.running_status(), "outputs": {}}),
        Phase::Done => {
            if !matches!(task.script.outcome, MsOutcome::Status(_) | MsOutcome::Never) {
                state.core.flights().reported_final(&task_id);
            }
            done_reply(&state, &task_id, task, rid)
        }
    };
    json_reply(StatusCode::OK, &body)
}

/// The poll reply for a task whose script has ended.
fn done_reply(state: &MsState, task_id: &str, task: &MsTask, rid: String) -> Value {
    match &task.script.outcome {
        MsOutcome::Succeed => json!({"task_id": task_id, "request_id": rid,
                "task_status": "SUCCEED",
                "output_images": [format!("{}{OUTPUT_PREFIX}{task_id}/result.png", state.core.base_url())]}),
        MsOutcome::ContentPolicy => json!({"task_status": "FAILED",
                "errors": {"code": 422, "message": INAPPROPRIATE}, "request_id": rid}),
        MsOutcome::Failed { code, message } => json!({"task_status": "FAILED",
                "errors": {"code": code, "message": message}, "request_id": rid}),
        MsOutcome::Cancel => {
            json!({"task_id": task_id, "request_id": rid, "task_status": "CANCEL"})
        }
        MsOutcome::Unknown => {
            json!({"task_id": task_id, "request_id": rid, "task_status": "UNKNOWN"})
        }
        MsOutcome::Status(s) => {
            json!({"task_id": task_id, "request_id": rid, "task_status": s, "outputs": {}})
        }
        // Never reaches Done (see phase()).
        MsOutcome::Never => json!({"task_id": task_id, "request_id": rid,
                "task_status": task.running_status(), "outputs": {}}),
    }
}

/// Balance in Magicube points: `frozen_amount` is what in-flight tasks hold; succeeded tasks
/// are charged.
async fn balance(State(state): State<Arc<MsState>>, headers: HeaderMap) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let now = Instant::now();
    let i = lock(&state.inner);
    let mine = i.tasks.values().filter(|t| t.key == i.key);
    let (mut frozen, mut spent) = (0.0, 0.0);
    for t in mine {
        if t.in_flight(now) {
            frozen += t.cost;
        } else if t.script.outcome == MsOutcome::Succeed {
            spent += t.cost;
        }
    }
    let total = (i.balance - spent).max(0.0);
    json_reply(
        StatusCode::OK,
        &json!({"success": true, "request_id": new_request_id(),
            "data": {"total_balance": total, "available_balance": (total - frozen).max(0.0),
                     "frozen_amount": frozen}}),
    )
}

async fn download(
    State(state): State<Arc<MsState>>,
    Path((task_id, file)): Path<(String, String)>,
) -> Response {
    let ttl = state.core.url_ttl();
    let i = lock(&state.inner);
    let Some(task) = i.tasks.get(&task_id) else {
        return not_found_xml();
    };
    let now = Instant::now();
    if file != "result.png"
        || task.phase(now) != Phase::Done
        || task.script.outcome != MsOutcome::Succeed
    {
        return not_found_xml();
    }
    if now >= task.created + task.script.duration + ttl {
        return oss_denied("AccessDenied", "Request has expired.");
    }
    png_reply(task.png.clone())
}

fn not_found_xml() -> Response {
    let mut r = oss_denied("NoSuchKey", "The specified key does not exist.");
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

/// A 422 content-policy reply as a scripted fault body, for [`Core::inject`].
pub fn content_policy_fault() -> Fault {
    Fault::Reply {
        status: 200,
        body: json!({"task_status": "FAILED",
            "errors": {"code": 422, "message": INAPPROPRIATE}, "request_id": new_request_id()}),
    }
}
