//! Fake Tripo 3D OpenAPI: uploads, task create and query with progress, expiring model and
//! preview URLs, balance, and the account's limit of 10 active tasks, speaking the contract
//! of providers.md §3 and §6. Served at the root: the fake's base URL stands for
//! `https://api.tripo3d.ai/v2/openapi`.
//!
//! `state.rs` holds what the fake knows, `replies.rs` the reply envelope and key check,
//! `tasks.rs`, `uploads.rs` and `outputs.rs` the handlers; this file routes them and holds the
//! Tripo-specific controls.

mod outputs;
mod replies;
mod state;
mod tasks;
mod uploads;

use std::sync::{Arc, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::Value;

use super::common::{download_error, lock, output_task_id, with_retry_after};
use super::control::{Core, Endpoint, Scripts};
use super::server::{Fake, Provider, Scripted, Served};
use replies::error;
use state::{Inner, OUTPUT_PREFIX, new_key};

pub use outputs::glb;
pub use state::{
    CREDITS_MESSAGE, LIMIT_MESSAGE, MODEL_VERSIONS, STS_BUCKET, TASK_COST, TRACE_HEADER, TpOutcome,
    TpScript, TpState,
};

/// A running fake Tripo server on loopback (key `tsk_…`, tasks succeeding after 300 ms,
/// output links living 5 minutes).
pub type TripoFake = Fake<TpState>;

impl Served for TpState {
    const NAME: &'static str = "Tripo";
    const URL_TTL: Duration = Duration::from_secs(5 * 60);

    fn new(core: Core) -> Self {
        TpState::fresh(core)
    }

    fn router() -> Router<Arc<Self>> {
        Router::new()
            .route("/upload", post(uploads::upload))
            .route("/upload/sts", post(uploads::upload))
            .route("/upload/sts/token", post(uploads::sts_token))
            .route(&format!("/{STS_BUCKET}/{{*key}}"), put(uploads::s3_put))
            .route("/user/balance", get(tasks::balance))
            .route("/task", post(tasks::create))
            .route("/task/{task_id}", get(tasks::query))
            .route("/tp-output/{task_id}/{file}", get(outputs::download))
            .fallback(replies::not_found)
    }
}

impl Scripted for TpState {
    type Script = TpScript;
    fn scripts(&self) -> &Scripts<TpScript> {
        &self.scripts
    }
}

impl TripoFake {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        lock(&self.state().inner)
    }

    /// Accept another key too; its tasks are invisible to the first key and vice versa.
    pub fn add_key(&self) -> String {
        let key = new_key();
        self.accept_key(key.clone());
        key
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

    /// The request body of a created task.
    pub fn task_input(&self, task_id: &str) -> Option<Value> {
        self.inner().tasks.get(task_id).map(|t| t.input.clone())
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
        } else if let Some(id) = output_task_id(path, OUTPUT_PREFIX) {
            (Endpoint::Download, Some(id))
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let reply = error(StatusCode::TOO_MANY_REQUESTS, 2000, LIMIT_MESSAGE);
        with_retry_after(reply, retry_after)
    }

    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response {
        if endpoint == Endpoint::Download {
            return download_error(status);
        }
        error(status, 1000, "Internal server error")
    }
}
