//! The ModelScope API-Inference adaptor (`modelscope`): validates image jobs against the
//! model table (`validate.rs`), submits them as async tasks, reads task status and keeps the
//! rate-limit figures ModelScope sends in its headers (`reply.rs`). Contract: providers.md §1.
//!
//! ModelScope documents no way to cancel a task, so `cancel` is the trait's no-op.

mod reply;
mod validate;

use super::builtin_models::{self, ProviderId};
use super::http;
use crate::providers::adaptor::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, ProviderInfo,
    QuotaInfo, Submitted,
};
use async_trait::async_trait;
use genq_protocol::catalog::Model;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use reply::{
    body_error, error_message, http_error, is_task_not_found, not_yet_found, poll_status,
    quota_from_headers, request_id,
};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::sync::Mutex;
use std::time::Duration;

#[cfg(test)]
use crate::providers::adaptor::RemoteOutput;
#[cfg(test)]
use genq_protocol::job::OutputRole;
#[cfg(test)]
use reply::SPENT_QUOTA_WAIT;

pub const NAME: &str = ProviderId::ModelScope.name();
pub const DEFAULT_BASE_URL: &str = "https://api-inference.modelscope.cn";
/// The balance endpoint lives on the main site, not on the inference host.
const BALANCE_BASE_URL: &str = "https://modelscope.cn";

static INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    default_base_url: DEFAULT_BASE_URL,
    key_env_vars: &["MODELSCOPE_API_TOKEN", "MODELSCOPE_API_KEY"],
    // One task at a time per token is all ModelScope promises.
    limits: Limits {
        max_concurrent: 1,
        requests_per_second: 1.0,
        timeout: Duration::from_secs(15 * 60),
    },
};

/// The adaptor. It holds no key: keys come with each call's [`CallContext`].
#[derive(Debug, Default)]
pub struct ModelScope {
    /// The latest `modelscope-ratelimit-*` figures, from any reply that carried them.
    quota: Mutex<Option<QuotaInfo>>,
}

impl ModelScope {
    pub fn new() -> Self {
        ModelScope::default()
    }

    /// Remembers the rate-limit headers of a reply, when it has any.
    fn record_quota(&self, headers: &reqwest::header::HeaderMap) {
        if let Some(q) = quota_from_headers(headers)
            && let Ok(mut slot) = self.quota.lock()
        {
            *slot = Some(q);
        }
    }
}

#[async_trait]
impl Provider for ModelScope {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn validate(&self, spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
        validate::check(spec, entries)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let path = ["v1", "images", "generations"];
        let request = http::keyed(ctx, &INFO, Method::POST, &path)?
            .header("X-ModelScope-Async-Mode", "true")
            .json(&submit_body(spec));
        let reply = http::send(request).await?;
        self.record_quota(&reply.headers);
        if !reply.status.is_success() {
            return Err(http_error(&reply));
        }
        let body = reply.json_or_malformed(NAME)?;
        let request_id = request_id(&body);
        // A `task_status` here (even `SUCCEED`) only means the task was accepted.
        match http::text_of(body.get("task_id")) {
            Some(remote_id) => Ok(Submitted {
                remote_id,
                request_id,
            }),
            None if error_message(&body).is_some() => Err(body_error(&reply, &body)),
            None => Err(http::malformed(NAME, &reply)),
        }
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        let request = http::keyed(ctx, &INFO, Method::GET, &["v1", "tasks", remote_id])?
            .header("X-ModelScope-Task-Type", "image_generation");
        let reply = http::send(request).await?;
        self.record_quota(&reply.headers);
        let body = reply.json();
        if let Some(msg) = body.as_ref().and_then(error_message)
            && is_task_not_found(&msg)
        {
            return Err(not_yet_found(remote_id, body.as_ref().and_then(request_id)));
        }
        if !reply.status.is_success() {
            return Err(http_error(&reply));
        }
        let body = body.ok_or_else(|| http::malformed(NAME, &reply))?;
        Ok(poll_status(&body))
    }

    /// The Magicube (魔粒) point balance, from the main site's OpenAPI. When the base URL is
    /// not the default (a fake server, a proxy), the endpoint is looked up under it instead.
    async fn quota(&self, ctx: &CallContext) -> Result<Option<QuotaInfo>, ProviderError> {
        let key = ctx.require_key(&INFO)?;
        let base = if ctx.base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
            BALANCE_BASE_URL
        } else {
            ctx.base_url.as_str()
        };
        let path = ["openapi", "v1", "magicubes", "balance"];
        let reply = http::send(http::authed(ctx, Method::GET, base, &path, key)?).await?;
        if !reply.status.is_success() {
            return Err(http_error(&reply));
        }
        let body = reply.json_or_malformed(NAME)?;
        if body.get("success").and_then(Value::as_bool) == Some(false) {
            let message = body
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message");
            return Err(ProviderError::final_error(
                JobErrorKind::Provider,
                format!("{NAME}: balance request refused: {message}"),
            )
            .with_request_id(request_id(&body)));
        }
        let data = body
            .get("data")
            .ok_or_else(|| http::malformed(NAME, &reply))?;
        let num = |k: &str| data.get(k).and_then(Value::as_f64);
        let Some(available) = num("available_balance") else {
            return Err(http::malformed(NAME, &reply));
        };
        let mut detail = format!("{} points (魔粒) available", http::plain_number(available));
        if let Some(total) = num("total_balance") {
            detail.push_str(&format!(" of {}", http::plain_number(total)));
        }
        if let Some(frozen) = num("frozen_amount").filter(|f| *f > 0.0) {
            detail.push_str(&format!(
                ", {} held by running tasks",
                http::plain_number(frozen)
            ));
        }
        Ok(Some(QuotaInfo {
            remaining: Some(available.floor() as i64),
            limit: None,
            detail: Some(detail),
        }))
    }

    fn last_quota(&self) -> Option<QuotaInfo> {
        self.quota.lock().ok().and_then(|q| q.clone())
    }
}

/// The JSON body of `POST /v1/images/generations` (providers.md §1.2).
fn submit_body(spec: &JobSpec) -> Value {
    let mut body = Map::new();
    let model = builtin_models::model_or_default(NAME, spec.model.as_deref());
    body.insert("model".into(), json!(model));
    body.insert("prompt".into(), json!(spec.prompt));
    if let Some(n) = &spec.negative_prompt {
        body.insert("negative_prompt".into(), json!(n));
    }
    if let Some(size) = spec.size {
        body.insert(
            "size".into(),
            json!(format!("{}x{}", size.width, size.height)),
        );
    }
    if let Some(seed) = spec.seed {
        body.insert("seed".into(), json!(seed));
    }
    if let Some(steps) = spec.steps {
        body.insert("steps".into(), json!(steps));
    }
    if let Some(g) = spec.guidance {
        body.insert("guidance".into(), json!(g));
    }
    if let Some(image) = &spec.image {
        body.insert("image_url".into(), json!(image));
    }
    match spec.loras.as_slice() {
        [] => {}
        // One LoRA is a bare repo id: full strength.
        [one] => {
            body.insert("loras".into(), json!(one.repo.trim()));
        }
        many => {
            let weights: Map<String, Value> = many
                .iter()
                .map(|l| (l.repo.trim().to_string(), json!(l.weight)))
                .collect();
            body.insert("loras".into(), Value::Object(weights));
        }
    }
    for (k, v) in &spec.params {
        body.insert(k.clone(), v.clone());
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests;
