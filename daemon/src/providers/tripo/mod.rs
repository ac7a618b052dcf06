//! The Tripo 3D OpenAPI adaptor (`tripo`): validates text, image and multiview to-3D jobs
//! (`validate.rs`, local images in `input.rs`), uploads local images (`upload.rs`, `sts.rs`),
//! creates tasks, reads their status and progress and lists the produced models and previews
//! (`output.rs`), and reads the account balance; replies and error codes in `reply.rs`.
//! Contract: providers.md §3.
//!
//! Every reply carries `X-Tripo-Trace-ID`; it is kept as the request id of each result and
//! error. Tripo documents no way to cancel a task, so `cancel` is the trait's no-op.

mod input;
mod output;
mod reply;
mod sts;
mod upload;
mod validate;

pub use input::{IMAGE_MAX_BYTES, ImageFormat, check_local_image};
pub use reply::TRACE_HEADER;
pub use validate::{QUALITY, TaskType, VIEWS, has_geometry_quality};

use super::builtin_models::{self, ProviderId};
use super::http;
use crate::providers::adaptor::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, ProviderInfo,
    QuotaInfo, Submitted,
};
use crate::secret::Secret;
use async_trait::async_trait;
use genq_protocol::catalog::Model;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use output::poll_status;
use reply::{envelope, trace_id};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;
use upload::Uploads;

#[cfg(test)]
use genq_protocol::job::OutputRole;
#[cfg(test)]
use std::path::Path;

pub const NAME: &str = ProviderId::Tripo.name();
pub const DEFAULT_BASE_URL: &str = "https://api.tripo3d.ai/v2/openapi";

static INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    default_base_url: DEFAULT_BASE_URL,
    key_env_vars: &["TRIPO_API_KEY"],
    // Tripo allows 10 tasks queued or running per account.
    limits: Limits {
        max_concurrent: 10,
        requests_per_second: 5.0,
        timeout: Duration::from_secs(30 * 60),
    },
};

/// Every Tripo API key starts with this (the official SDK refuses others).
pub const KEY_PREFIX: &str = "tsk_";

/// The adaptor. It holds no key: keys come with each call's [`CallContext`].
#[derive(Debug, Default)]
pub struct Tripo {
    /// How uploads go per base URL, once `/upload` answered 404 there.
    uploads: Uploads,
    /// Tasks submitted with `quad` (FBX output) by this process; the task reply may not say.
    quad_tasks: Mutex<HashSet<String>>,
    /// The latest balance read by [`Provider::quota`].
    balance: Mutex<Option<QuotaInfo>>,
}

impl Tripo {
    pub fn new() -> Self {
        Tripo::default()
    }
}

#[async_trait]
impl Provider for Tripo {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn validate(&self, spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
        validate::check(spec, entries)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let key = key(ctx)?;
        let task = TaskType::of(spec);
        let mut body = Map::new();
        body.insert("type".into(), json!(task.as_str()));
        match task {
            TaskType::TextToModel => {
                body.insert("prompt".into(), json!(spec.prompt));
                if let Some(n) = &spec.negative_prompt {
                    body.insert("negative_prompt".into(), json!(n));
                }
            }
            TaskType::ImageToModel => {
                let image = spec.image.as_deref().unwrap_or_default();
                body.insert(
                    "file".into(),
                    self.uploads.file_entry(ctx, key, image).await?,
                );
            }
            TaskType::MultiviewToModel => {
                let mut files = Vec::with_capacity(VIEWS.len());
                for view in VIEWS {
                    files.push(match spec.views.get(view) {
                        Some(input) => self.uploads.file_entry(ctx, key, input).await?,
                        None => json!({}),
                    });
                }
                body.insert("files".into(), Value::Array(files));
            }
        }
        let version = builtin_models::model_or_default(NAME, spec.model.as_deref());
        body.insert("model_version".into(), json!(version));
        if let Some(seed) = spec.seed {
            body.insert("model_seed".into(), json!(seed));
        }
        for (k, v) in &spec.params {
            if k != "model_version" {
                body.insert(k.clone(), v.clone());
            }
        }
        let request = http::authed(ctx, Method::POST, &ctx.base_url, &["task"], key)?
            .json(&Value::Object(body));
        let reply = http::send(request).await?;
        let data = envelope(&reply)?;
        let request_id = trace_id(&reply);
        let Some(remote_id) = http::text_of(data.get("task_id")) else {
            return Err(http::malformed(NAME, &reply).with_request_id(request_id));
        };
        if spec.params.get("quad") == Some(&Value::Bool(true))
            && let Ok(mut quad) = self.quad_tasks.lock()
        {
            quad.insert(remote_id.clone());
        }
        Ok(Submitted {
            remote_id,
            request_id,
        })
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        let key = key(ctx)?;
        let path = ["task", remote_id];
        let reply = http::send(http::authed(ctx, Method::GET, &ctx.base_url, &path, key)?).await?;
        let data = envelope(&reply)?;
        let quad = self.quad_tasks.lock().is_ok_and(|q| q.contains(remote_id));
        let status = poll_status(remote_id, &data, trace_id(&reply), quad);
        if !matches!(status, PollStatus::Pending { .. })
            && let Ok(mut q) = self.quad_tasks.lock()
        {
            q.remove(remote_id);
        }
        Ok(status)
    }

    /// `GET /user/balance`: the spendable balance and the part held by running tasks.
    async fn quota(&self, ctx: &CallContext) -> Result<Option<QuotaInfo>, ProviderError> {
        let key = key(ctx)?;
        let path = ["user", "balance"];
        let reply = http::send(http::authed(ctx, Method::GET, &ctx.base_url, &path, key)?).await?;
        let data = envelope(&reply)?;
        let num = |k: &str| data.get(k).and_then(Value::as_f64);
        let Some(balance) = num("balance") else {
            return Err(http::malformed(NAME, &reply).with_request_id(trace_id(&reply)));
        };
        let frozen = num("frozen").unwrap_or(0.0);
        let info = QuotaInfo {
            remaining: Some(balance.floor() as i64),
            limit: None,
            detail: Some(format!(
                "balance {}, frozen {}",
                http::plain_number(balance),
                http::plain_number(frozen)
            )),
        };
        if let Ok(mut slot) = self.balance.lock() {
            *slot = Some(info.clone());
        }
        Ok(Some(info))
    }

    fn last_quota(&self) -> Option<QuotaInfo> {
        self.balance.lock().ok().and_then(|b| b.clone())
    }
}

/// The key, refused before any request when it is missing or not a Tripo key.
fn key(ctx: &CallContext) -> Result<&Secret, ProviderError> {
    let key = ctx.require_key(&INFO)?;
    if !key.expose().starts_with(KEY_PREFIX) {
        return Err(ProviderError::final_error(
            JobErrorKind::Auth,
            format!(
                "the {NAME} API key does not start with {KEY_PREFIX} as every Tripo API key does; \
                 check TRIPO_API_KEY (or api_key_env, api_key_cmd, api_key under \
                 [providers.{NAME}] in config.toml)"
            ),
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests;
