//! Fake ModelScope API-Inference image generation (async mode): submit, poll, balance and the
//! output images, speaking the contract of providers.md §1 and §6.

mod replies;
mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::common::{
    bearer, download_error, header_is, json_reply, lock, make_png, new_request_id, oss_denied,
    output_task_id, png_reply,
};
use super::control::{Core, Endpoint, Fault, Script, Scripts};
use super::server::{Fake, Provider, Scripted, Served};
use replies::{Quota, errors_reply};
use validate::validate;

pub use replies::LIMIT_EXCEEDED;

const SUBMIT_PATH: &str = "/v1/images/generations";
const BALANCE_PATH: &str = "/openapi/v1/magicubes/balance";
const OUTPUT_PREFIX: &str = "/ms-output/";

/// Exact body of §1.2 for a submit without `X-ModelScope-Async-Mode: true`.
pub const SYNC_NOT_SUPPORTED: &str = "image-gen task currently does not support synchronous calls. Please refer to the documentation and set header X-ModelScope-Async-Mode=true to switch to asynchronous calling mode";
/// Message of the 422 content-policy failure.
pub const INAPPROPRIATE: &str = "Output data may contain inappropriate content.";

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

impl Script for MsScript {
    fn succeed_after(duration: Duration) -> Self {
        MsScript::succeed_after(duration)
    }
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

impl IdStyle {
    /// The id of the `seq`-th task.
    fn task_id(self, seq: u64) -> String {
        let numeric = match self {
            IdStyle::Uuid => false,
            IdStyle::Numeric => true,
            IdStyle::Alternate => !seq.is_multiple_of(2),
        };
        if numeric {
            (4_213_726 + seq).to_string()
        } else {
            uuid::Uuid::now_v7().to_string()
        }
    }
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
    id_style: IdStyle,
    echo: EchoSucceed,
    seq: u64,
    tasks: HashMap<String, MsTask>,
    user_limit: u32,
    model_limit: u32,
    used_user: u32,
    used_model: HashMap<String, u32>,
    quota_retry_after: Option<u64>,
    single_concurrency: bool,
    balance: f64,
    /// The image new tasks produce instead of the generated 64×64 one.
    output_png: Option<Bytes>,
}

/// The fake ModelScope's state: its control, its task scripts and its account.
#[derive(Debug)]
pub struct MsState {
    core: Core,
    scripts: Scripts<MsScript>,
    inner: Mutex<Inner>,
}

/// A running fake ModelScope API-Inference server on loopback (key `ms-…`, tasks succeeding
/// after 200 ms, output URLs living an hour).
pub type ModelScopeFake = Fake<MsState>;

impl Served for MsState {
    const NAME: &'static str = "ModelScope";
    const URL_TTL: Duration = Duration::from_secs(3600);

    fn new(core: Core) -> Self {
        core.set_key(format!("ms-{}", uuid::Uuid::now_v7()));
        MsState {
            core,
            scripts: Scripts::new(MsScript::succeed_after(Duration::from_millis(200))),
            inner: Mutex::new(Inner {
                id_style: IdStyle::Alternate,
                echo: EchoSucceed::Alternate,
                seq: 0,
                tasks: HashMap::new(),
                user_limit: 2000,
                model_limit: 200,
                used_user: 0,
                used_model: HashMap::new(),
                quota_retry_after: None,
                single_concurrency: false,
                balance: 250.0,
                output_png: None,
            }),
        }
    }

    fn router() -> Router<Arc<Self>> {
        Router::new()
            .route(SUBMIT_PATH, post(submit))
            .route("/v1/tasks/{task_id}", get(poll))
            .route(BALANCE_PATH, get(balance))
            .route("/ms-output/{task_id}/{file}", get(download))
    }
}

impl Scripted for MsState {
    type Script = MsScript;
    fn scripts(&self) -> &Scripts<MsScript> {
        &self.scripts
    }
}

impl ModelScopeFake {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state().inner)
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

    /// The image tasks created from now on produce (`None`: a small generated one).
    pub fn set_output_png(&self, png: Option<Bytes>) {
        self.inner().output_png = png;
    }

    /// The PNG the task's output URL serves (also before it is reachable).
    pub fn output_png(&self, task_id: &str) -> Option<Bytes> {
        self.inner().tasks.get(task_id).map(|t| t.png.clone())
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
        } else if let Some(id) = output_task_id(path, OUTPUT_PREFIX) {
            (Endpoint::Download, Some(id))
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let i = lock(&self.inner);
        let quota = Quota {
            user_limit: i.user_limit,
            user_left: i.user_limit.saturating_sub(i.used_user),
            model_limit: i.model_limit,
            model_left: i.model_limit,
        };
        drop(i);
        quota.exceeded(retry_after)
    }

    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response {
        if endpoint == Endpoint::Download {
            return download_error(status);
        }
        errors_reply(
            status,
            Some(i64::from(status.as_u16())),
            "Internal server error, please retry later.",
        )
    }
}

/// 401 unless `Authorization: Bearer <current key>`.
fn check_auth(state: &MsState, headers: &HeaderMap) -> Option<Response> {
    match bearer(headers) {
        None => Some(errors_reply(
            StatusCode::UNAUTHORIZED,
            Some(401),
            "Authentication failed: no API token provided. Send Authorization: Bearer <ModelScope access token>.",
        )),
        Some(k) if state.core.accepts(k) => None,
        Some(_) => Some(errors_reply(
            StatusCode::UNAUTHORIZED,
            Some(401),
            "Authentication failed: invalid API token.",
        )),
    }
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
    let key = state.core.key();
    let mut i = lock(&state.inner);
    let used_model = i.used_model.get(&model).copied().unwrap_or(0);
    let quota = Quota {
        user_limit: i.user_limit,
        user_left: i.user_limit.saturating_sub(i.used_user),
        model_limit: i.model_limit,
        model_left: i.model_limit.saturating_sub(used_model),
    };
    let spent = quota.user_left == 0 || quota.model_left == 0;
    let busy = i.single_concurrency && i.tasks.values().any(|t| t.key == key && t.in_flight(now));
    if spent || busy {
        return quota.exceeded(i.quota_retry_after);
    }
    i.used_user += 1;
    *i.used_model.entry(model.clone()).or_insert(0) += 1;
    let seq = i.seq;
    i.seq += 1;
    let task_id = i.id_style.task_id(seq);
    let echo = match i.echo {
        EchoSucceed::Never => false,
        EchoSucceed::Always => true,
        EchoSucceed::Alternate => seq.is_multiple_of(2),
    };
    let script = state.scripts.next();
    let cost = if model.to_ascii_lowercase().contains("qwen-image") {
        2.0
    } else {
        1.0
    };
    let ends = (script.outcome != MsOutcome::Never).then_some(script.duration);
    let prompt = value["prompt"].as_str().map(str::to_string);
    state.core.flights().created(&task_id, prompt, ends);
    let png = i
        .output_png
        .clone()
        .unwrap_or_else(|| make_png(&format!("modelscope/{task_id}")));
    let task = MsTask {
        seq,
        key,
        created: now,
        script,
        cost,
        png,
    };
    i.tasks.insert(task_id.clone(), task);
    state.core.task_created(&task_id);
    let mut reply = json!({"task_id": task_id, "request_id": new_request_id()});
    if echo {
        reply["task_status"] = json!("SUCCEED");
    }
    let mut resp = json_reply(StatusCode::OK, &reply);
    Quota {
        user_left: quota.user_left - 1,
        model_left: quota.model_left - 1,
        ..quota
    }
    .write_headers(resp.headers_mut());
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
                "output_images": [format!("{}{OUTPUT_PREFIX}{task_id}/result.png", state.core.files_base_url())]}),
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
    let key = state.core.key();
    let i = lock(&state.inner);
    let mine = i.tasks.values().filter(|t| t.key == key);
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
