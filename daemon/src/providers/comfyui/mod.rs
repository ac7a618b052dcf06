//! ComfyUI on the user's own GPU (`type = "comfyui"`): each workflow registered in the
//! config (API format, with bindings from job fields to node inputs) is a model. A job is
//! sent as `POST /prompt` with genq's `client_id` and a `prompt_id` it mints; its progress
//! comes from the websocket ([`ws`]); where it stands comes from the queue and the history
//! ([`status`]), which also give its outputs as `/view` URLs. ComfyUI keeps its queue in
//! memory: a prompt it no longer knows fails `interrupted` after a grace period.
//!
//! [`prompt`] builds the prompt from the workflow and maps ComfyUI's validation errors;
//! [`upload`] sends a job's input image first, for the workflow's `LoadImage` node.

mod info;
pub mod models;
mod prompt;
mod status;
mod upload;
mod ws;

use info::INFO;
pub use info::{DEFAULT_BASE_URL, NAME};

use super::adaptor::{
    CallContext, InvalidParam, PollStatus, Provider, ProviderError, ProviderInfo, Submitted,
};
use super::http;
use crate::config::{ProviderSection, WorkflowSection};
use async_trait::async_trait;
use genq_protocol::catalog::Model;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use reqwest::Method;
use status::Found;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a prompt may be unknown to ComfyUI before its job fails, when the table does
/// not say.
const LOST_GRACE: Duration = Duration::from_secs(30);

/// One ComfyUI server.
pub struct ComfyUi {
    workflows: BTreeMap<String, WorkflowSection>,
    grace: Duration,
    client_id: String,
    progress: ws::Progress,
    /// When each prompt was first found missing from the queue and the history.
    missing: Mutex<HashMap<String, Instant>>,
    listener: Mutex<Option<tokio::task::AbortHandle>>,
}

impl ComfyUi {
    pub fn new(section: &ProviderSection) -> Self {
        ComfyUi {
            workflows: section.workflows.clone().unwrap_or_default(),
            grace: section.lost_grace_s.map_or(LOST_GRACE, Duration::from_secs),
            client_id: format!("genq-{}", uuid::Uuid::now_v7().simple()),
            progress: Arc::default(),
            missing: Mutex::default(),
            listener: Mutex::default(),
        }
    }

    /// Starts listening for progress once, from the first call on.
    fn listen(&self, ctx: &CallContext) {
        let Ok(mut listener) = self.listener.lock() else {
            return;
        };
        if listener.is_none() {
            let task = tokio::spawn(ws::listen(
                ctx.base_url.clone(),
                self.client_id.clone(),
                Arc::downgrade(&self.progress),
            ));
            *listener = Some(task.abort_handle());
        }
    }

    fn progress_of(&self, prompt_id: &str) -> Option<u8> {
        self.progress.lock().ok()?.get(prompt_id).copied()
    }

    /// A prompt ComfyUI does not know: still within the grace period, or lost.
    fn unknown(&self, prompt_id: &str) -> PollStatus {
        let Ok(mut missing) = self.missing.lock() else {
            return pending(None);
        };
        let since = *missing
            .entry(prompt_id.to_string())
            .or_insert_with(Instant::now);
        if since.elapsed() < self.grace {
            return pending(None);
        }
        missing.remove(prompt_id);
        PollStatus::Failed(ProviderError::final_error(
            JobErrorKind::Interrupted,
            format!(
                "ComfyUI no longer knows prompt {prompt_id}: it is in neither its queue nor its \
                 history (ComfyUI restarted and lost its queue, or the prompt was deleted). \
                 `genq retry` submits it again"
            ),
        ))
    }
}

impl Drop for ComfyUi {
    fn drop(&mut self) {
        if let Ok(Some(task)) = self.listener.lock().map(|mut l| l.take()) {
            task.abort();
        }
    }
}

fn pending(progress: Option<u8>) -> PollStatus {
    PollStatus::Pending {
        progress,
        eta: None,
    }
}

#[async_trait]
impl Provider for ComfyUi {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn typical_duration(&self, _spec: &JobSpec) -> Duration {
        Duration::from_secs(5)
    }

    fn validate(&self, spec: &mut JobSpec, _entries: &[Model]) -> Result<JobKind, InvalidParam> {
        super::checks::image_kind(spec, NAME)?;
        let names = || {
            self.workflows
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        };
        let model = match &spec.model {
            Some(m) => m.clone(),
            None => self.workflows.keys().next().cloned().ok_or_else(|| {
                InvalidParam::new("model", format!("{} has no workflows", spec.provider)).allowed(
                    format!("add one under [providers.{}.workflows.NAME]", spec.provider),
                )
            })?,
        };
        let Some(workflow) = self.workflows.get(&model) else {
            return Err(InvalidParam::new(
                "model",
                format!("{model:?} is not a workflow of {}", spec.provider),
            )
            .allowed(names()));
        };
        prompt::check_bound(spec, &model, workflow)?;
        spec.model = Some(model);
        Ok(JobKind::Image)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        self.listen(ctx);
        let name = spec.model.as_deref().unwrap_or_default();
        let workflow = self.workflows.get(name).ok_or_else(|| {
            ProviderError::final_error(
                JobErrorKind::InvalidParams,
                format!("model: no workflow {name:?}"),
            )
        })?;
        let image = match &spec.image {
            Some(input) => Some(upload::upload(ctx, input).await?),
            None => None,
        };
        let prompt_id = uuid::Uuid::now_v7().to_string();
        let body = serde_json::json!({
            "prompt": prompt::graph(spec, workflow, image.as_deref())?,
            "client_id": self.client_id,
            "prompt_id": prompt_id,
        });
        let url = http::endpoint(&ctx.base_url, &["prompt"])?;
        let reply = http::send(ctx.http.request(Method::POST, url).json(&body)).await?;
        if reply.status.as_u16() == 400 {
            return Err(prompt::refusal(&reply.json().unwrap_or_default(), workflow));
        }
        if !reply.status.is_success() {
            return Err(http::classify_status(
                reply.status,
                format!("{NAME}: {}", reply.text()),
            ));
        }
        let answer = reply.json_or_malformed(NAME)?;
        let id = answer["prompt_id"]
            .as_str()
            .unwrap_or(&prompt_id)
            .to_string();
        Ok(Submitted {
            remote_id: id,
            request_id: None,
        })
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        self.listen(ctx);
        let found = status::find(ctx, remote_id).await?;
        if !matches!(found, Found::Unknown)
            && let Ok(mut missing) = self.missing.lock()
        {
            missing.remove(remote_id);
        }
        Ok(match found {
            Found::Running => pending(self.progress_of(remote_id)),
            Found::Pending => pending(Some(0)),
            Found::Done(done) => done,
            Found::Unknown => self.unknown(remote_id),
        })
    }

    async fn cancel(&self, ctx: &CallContext, remote_id: &str) -> Result<(), ProviderError> {
        status::cancel(ctx, remote_id).await
    }
}
