//! Fake DashScope (Alibaba Cloud Model Studio) Wan text-to-image, old async protocol: create,
//! query and the signed, expiring result URLs, speaking the contract of providers.md §2 and §6.

mod validate;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::common::{
    bearer, download_error, header_is, json_reply, lock, make_png, new_request_id, oss_denied,
    output_task_id, png_reply, unix_secs, with_retry_after,
};
use super::control::{Core, Endpoint, Fault, Script, Scripts};
use super::server::{Fake, Provider, Scripted, Served};
use validate::validate;

pub use validate::MODELS;

const SUBMIT_PATH: &str = "/api/v1/services/aigc/text2image/image-synthesis";
const TASKS_PREFIX: &str = "/api/v1/tasks/";
const OUTPUT_PREFIX: &str = "/ds-output/";
/// How long tasks stay queryable and their URLs valid, by default.
const DAY: Duration = Duration::from_secs(24 * 3600);

pub const SYNC_NOT_SUPPORTED: &str = "current user api does not support synchronous calls";
pub const RATE_QUOTA: &str = "Requests rate limit exceeded, please try again later.";
pub const ALLOCATION_QUOTA: &str = "Free allocated quota exceeded.";
pub const DATA_INSPECTION: &str = "Input data may contain inappropriate content.";
const PARTIAL_CODE: &str = "InternalError.Timeout";
const PARTIAL_MESSAGE: &str = "An internal timeout error has occured during execution, please try again later or contact service support.";

/// How a task ends once its duration has passed.
#[derive(Debug, Clone, PartialEq)]
pub enum DsOutcome {
    /// `SUCCEEDED` with one URL per image.
    Succeed,
    /// `SUCCEEDED`, but the first `failed` results carry `code`/`message` instead of `url`.
    PartialFailure { failed: u32 },
    /// `FAILED` with `output.code` and `output.message`.
    Failed { code: String, message: String },
    /// `CANCELED`.
    Canceled,
    /// `UNKNOWN`.
    Unknown,
    /// This status string forever.
    Status(String),
    /// `RUNNING` forever.
    Never,
}

/// The life of one task, measured from its create.
#[derive(Debug, Clone, PartialEq)]
pub struct DsScript {
    /// Time from create to the final status; the first 30 % is `PENDING`, the rest `RUNNING`.
    pub duration: Duration,
    pub outcome: DsOutcome,
}

impl Script for DsScript {
    fn succeed_after(duration: Duration) -> Self {
        DsScript::succeed_after(duration)
    }
}

impl DsScript {
    pub fn succeed_after(duration: Duration) -> Self {
        DsScript {
            duration,
            outcome: DsOutcome::Succeed,
        }
    }

    pub fn outcome_after(duration: Duration, outcome: DsOutcome) -> Self {
        DsScript { duration, outcome }
    }
}

#[derive(Debug)]
struct DsTask {
    created: Instant,
    created_at: SystemTime,
    script: DsScript,
    prompt: String,
    prompt_extend: bool,
    n: u32,
    /// Per image: the `Signature` query value and the PNG.
    files: Vec<(String, Bytes)>,
}

#[derive(Debug, PartialEq)]
enum Phase {
    Pending,
    Running,
    Done,
}

impl DsTask {
    fn phase(&self, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.created);
        let d = self.script.duration;
        if elapsed < d * 3 / 10 {
            Phase::Pending
        } else if elapsed < d || self.script.outcome == DsOutcome::Never {
            Phase::Running
        } else {
            Phase::Done
        }
    }

    fn finished_at(&self) -> SystemTime {
        self.created_at + self.script.duration
    }

    /// Number of images with a URL.
    fn succeeded_images(&self) -> u32 {
        match self.script.outcome {
            DsOutcome::Succeed => self.n,
            DsOutcome::PartialFailure { failed } => self.n.saturating_sub(failed),
            _ => 0,
        }
    }
}

#[derive(Debug)]
struct Inner {
    tasks: HashMap<String, DsTask>,
    submits_per_sec: Option<u32>,
    max_running: Option<u32>,
    recent_submits: VecDeque<Instant>,
    quota: Option<u32>,
    used: u32,
    task_ttl: Duration,
}

/// The fake DashScope's state: its control, its task scripts and its account.
#[derive(Debug)]
pub struct DsState {
    core: Core,
    scripts: Scripts<DsScript>,
    inner: Mutex<Inner>,
}

/// A running fake DashScope server on loopback (key `sk-…`, tasks succeeding after 200 ms,
/// output URLs living 24 h).
pub type DashScopeFake = Fake<DsState>;

impl Served for DsState {
    const NAME: &'static str = "DashScope";
    const URL_TTL: Duration = DAY;

    fn new(core: Core) -> Self {
        core.set_key(format!("sk-{}", uuid::Uuid::now_v7().simple()));
        DsState {
            core,
            scripts: Scripts::new(DsScript::succeed_after(Duration::from_millis(200))),
            inner: Mutex::new(Inner {
                tasks: HashMap::new(),
                submits_per_sec: Some(2),
                max_running: Some(2),
                recent_submits: VecDeque::new(),
                quota: None,
                used: 0,
                task_ttl: DAY,
            }),
        }
    }

    fn router() -> Router<Arc<Self>> {
        Router::new()
            .route(SUBMIT_PATH, post(create))
            .route("/api/v1/tasks/{task_id}", get(query))
            .route("/ds-output/{task_id}/{file}", get(download))
    }
}

impl Scripted for DsState {
    type Script = DsScript;
    fn scripts(&self) -> &Scripts<DsScript> {
        &self.scripts
    }
}

impl DashScopeFake {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state().inner)
    }

    /// Submit limits: creates per second and tasks pending or running at once (default 2 and
    /// 2, as documented); `None` lifts a limit. Over it: 429 `Throttling.RateQuota`.
    pub fn set_throttle(&self, submits_per_sec: Option<u32>, max_running: Option<u32>) {
        let mut i = self.inner();
        i.submits_per_sec = submits_per_sec;
        i.max_running = max_running;
    }

    /// Tasks the account may still create; past it 429 `Throttling.AllocationQuota`.
    /// `None` (default) = unlimited. Resets the used count.
    pub fn set_quota(&self, tasks: Option<u32>) {
        let mut i = self.inner();
        i.quota = tasks;
        i.used = 0;
    }

    /// How long task ids stay queryable (default 24 h); older tasks answer `UNKNOWN`.
    pub fn set_task_ttl(&self, ttl: Duration) {
        self.inner().task_ttl = ttl;
    }

    /// The next `n` creates are refused with 400 `DataInspectionFailed`.
    pub fn reject_next_for_moderation(&self, n: u32) {
        self.inject(
            Endpoint::Submit,
            Fault::Reply {
                status: 400,
                body: json!({"request_id": new_request_id(), "code": "DataInspectionFailed",
                    "message": DATA_INSPECTION}),
            },
            n,
        );
    }

    /// The PNGs the task's result URLs serve, by image index.
    pub fn output_pngs(&self, task_id: &str) -> Vec<Bytes> {
        self.inner()
            .tasks
            .get(task_id)
            .map(|t| t.files.iter().map(|(_, b)| b.clone()).collect())
            .unwrap_or_default()
    }

    /// Number of images the task was created with (`n`, 4 when absent).
    pub fn image_count(&self, task_id: &str) -> Option<u32> {
        self.inner().tasks.get(task_id).map(|t| t.n)
    }
}

impl Provider for DsState {
    fn core(&self) -> &Core {
        &self.core
    }

    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if method == Method::POST && path == SUBMIT_PATH {
            (Endpoint::Submit, None)
        } else if let Some(id) = path.strip_prefix(TASKS_PREFIX) {
            (Endpoint::Poll, Some(id.to_string()))
        } else if let Some(id) = output_task_id(path, OUTPUT_PREFIX) {
            (Endpoint::Download, Some(id))
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let reply = error_reply(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling.RateQuota",
            RATE_QUOTA,
        );
        with_retry_after(reply, retry_after)
    }

    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response {
        if endpoint == Endpoint::Download {
            return download_error(status);
        }
        error_reply(
            status,
            "InternalError",
            "An internal error has occured, please try again later or contact service support.",
        )
    }
}

/// `{"request_id","code","message"}` with this status (§2.5).
fn error_reply(status: StatusCode, code: &str, message: &str) -> Response {
    json_reply(
        status,
        &json!({"request_id": new_request_id(), "code": code, "message": message}),
    )
}

fn invalid(message: impl AsRef<str>) -> Response {
    error_reply(
        StatusCode::BAD_REQUEST,
        "InvalidParameter",
        message.as_ref(),
    )
}

fn check_auth(state: &DsState, headers: &HeaderMap) -> Option<Response> {
    match bearer(headers) {
        None | Some("") => Some(error_reply(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "No API-key provided.",
        )),
        Some(k) if state.core.accepts(k) => None,
        Some(_) => Some(error_reply(
            StatusCode::UNAUTHORIZED,
            "InvalidApiKey",
            "Invalid API-key provided.",
        )),
    }
}

async fn create(State(state): State<Arc<DsState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    if !header_is(&headers, "x-dashscope-async", "enable") {
        return error_reply(StatusCode::FORBIDDEN, "AccessDenied", SYNC_NOT_SUPPORTED);
    }
    let value: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return invalid(format!("The request body is not valid JSON: {e}")),
    };
    let req = match validate(&value) {
        Ok(r) => r,
        Err((code, message)) => return error_reply(StatusCode::BAD_REQUEST, code, &message),
    };

    let now = Instant::now();
    let mut i = lock(&state.inner);
    if i.quota.is_some_and(|q| i.used >= q) {
        return error_reply(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling.AllocationQuota",
            ALLOCATION_QUOTA,
        );
    }
    while i
        .recent_submits
        .front()
        .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
    {
        i.recent_submits.pop_front();
    }
    let running = i
        .tasks
        .values()
        .filter(|t| t.phase(now) != Phase::Done)
        .count();
    let too_fast = i
        .submits_per_sec
        .is_some_and(|rps| i.recent_submits.len() >= rps as usize);
    let too_many = i.max_running.is_some_and(|m| running >= m as usize);
    if too_fast || too_many {
        return error_reply(
            StatusCode::TOO_MANY_REQUESTS,
            "Throttling.RateQuota",
            RATE_QUOTA,
        );
    }
    i.recent_submits.push_back(now);
    i.used += 1;
    let task_id = uuid::Uuid::now_v7().to_string();
    let script = state.scripts.next();
    let files = (0..req.n)
        .map(|k| {
            (
                uuid::Uuid::now_v7().simple().to_string(),
                make_png(&format!("dashscope/{task_id}/{k}/{}", req.model)),
            )
        })
        .collect();
    i.tasks.insert(
        task_id.clone(),
        DsTask {
            created: now,
            created_at: SystemTime::now(),
            script,
            prompt: req.prompt,
            prompt_extend: req.prompt_extend,
            n: req.n,
            files,
        },
    );
    state.core.task_created(&task_id);
    json_reply(
        StatusCode::OK,
        &json!({"output": {"task_status": "PENDING", "task_id": task_id},
            "request_id": new_request_id()}),
    )
}

/// `2025-01-08 16:03:59.840` in UTC+8 like the real service.
fn stamp(t: SystemTime) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond digits:3]"
    );
    let local = time::OffsetDateTime::from(t).to_offset(time::macros::offset!(+8));
    local.format(&fmt).unwrap_or_default()
}

async fn query(
    State(state): State<Arc<DsState>>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = check_auth(&state, &headers) {
        return r;
    }
    let rid = new_request_id();
    let unknown = || {
        json_reply(
            StatusCode::OK,
            &json!({"request_id": rid, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}),
        )
    };
    let now = Instant::now();
    let i = lock(&state.inner);
    let Some(task) = i.tasks.get(&task_id) else {
        return unknown();
    };
    if now.saturating_duration_since(task.created) >= i.task_ttl {
        return unknown();
    }
    let mut output = json!({"task_id": task_id, "submit_time": stamp(task.created_at)});
    let scheduled = stamp(task.created_at + task.script.duration * 3 / 10);
    match task.phase(now) {
        Phase::Pending => output["task_status"] = json!("PENDING"),
        Phase::Running => {
            output["task_status"] = json!("RUNNING");
            output["scheduled_time"] = json!(scheduled);
        }
        Phase::Done => {
            output["scheduled_time"] = json!(scheduled);
            output["end_time"] = json!(stamp(task.finished_at()));
            match &task.script.outcome {
                DsOutcome::Succeed | DsOutcome::PartialFailure { .. } => {
                    let ok = task.succeeded_images();
                    let failed = task.n - ok;
                    let expires = unix_secs(task.finished_at() + state.core.url_ttl());
                    let base = state.core.files_base_url();
                    let results: Vec<Value> = task
                        .files
                        .iter()
                        .enumerate()
                        .map(|(k, (sig, _))| {
                            let mut r = json!({"orig_prompt": task.prompt});
                            if task.prompt_extend {
                                r["actual_prompt"] =
                                    json!(format!("{}, highly detailed, soft light", task.prompt));
                            }
                            if (k as u32) < failed {
                                r["code"] = json!(PARTIAL_CODE);
                                r["message"] = json!(PARTIAL_MESSAGE);
                            } else {
                                r["url"] = json!(format!(
                                    "{base}{OUTPUT_PREFIX}{task_id}/{k}.png?Expires={expires}&OSSAccessKeyId=LTAIfakefakefake&Signature={sig}"
                                ));
                            }
                            r
                        })
                        .collect();
                    output["task_status"] = json!("SUCCEEDED");
                    output["results"] = json!(results);
                    output["task_metrics"] =
                        json!({"TOTAL": task.n, "SUCCEEDED": ok, "FAILED": failed});
                    return json_reply(
                        StatusCode::OK,
                        &json!({"request_id": rid, "output": output, "usage": {"image_count": ok}}),
                    );
                }
                DsOutcome::Failed { code, message } => {
                    output["task_status"] = json!("FAILED");
                    output["code"] = json!(code);
                    output["message"] = json!(message);
                }
                DsOutcome::Canceled => output["task_status"] = json!("CANCELED"),
                DsOutcome::Unknown => output["task_status"] = json!("UNKNOWN"),
                DsOutcome::Status(s) => output["task_status"] = json!(s),
                DsOutcome::Never => output["task_status"] = json!("RUNNING"),
            }
        }
    }
    json_reply(
        StatusCode::OK,
        &json!({"request_id": rid, "output": output}),
    )
}

async fn download(
    State(state): State<Arc<DsState>>,
    Path((task_id, file)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ttl = state.core.url_ttl();
    let i = lock(&state.inner);
    let denied = || oss_denied("AccessDenied", "Request has expired.");
    let Some(task) = i.tasks.get(&task_id) else {
        return oss_denied("NoSuchKey", "The specified key does not exist.");
    };
    let idx: Option<usize> = file.strip_suffix(".png").and_then(|k| k.parse().ok());
    let Some((sig, png)) = idx.and_then(|k| task.files.get(k)) else {
        return oss_denied("NoSuchKey", "The specified key does not exist.");
    };
    // The signature is checked; expiry is judged on the server clock (so a TTL changed after
    // the URL was issued still applies).
    if q.get("Signature") != Some(sig) || !q.contains_key("Expires") {
        return oss_denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    let now = Instant::now();
    if task.phase(now) != Phase::Done {
        return oss_denied("NoSuchKey", "The specified key does not exist.");
    }
    if now >= task.created + task.script.duration + ttl {
        return denied();
    }
    png_reply(png.clone())
}
