//! The ModelScope API-Inference adaptor (`modelscope`): validates image jobs against the
//! model table, submits them as async tasks, reads task status, and keeps the rate-limit
//! figures ModelScope sends in its headers. Contract: providers.md §1.
//!
//! ModelScope documents no way to cancel a task, so `cancel` is the trait's no-op.

use super::checks::{self, ParamType};
use super::http::{self, Reply};
use super::models::{self, ImageInput, LoraSupport, ModelRule};
use super::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, QuotaInfo,
    RemoteOutput, Submitted,
};
use async_trait::async_trait;
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use serde_json::{Map, Value, json};
use std::sync::Mutex;
use std::time::Duration;

pub const NAME: &str = "modelscope";
pub const DEFAULT_BASE_URL: &str = "https://api-inference.modelscope.cn";
/// The balance endpoint lives on the main site, not on the inference host.
const BALANCE_BASE_URL: &str = "https://modelscope.cn";
const KEY_ENV_VARS: &[&str] = &["MODELSCOPE_API_TOKEN", "MODELSCOPE_API_KEY"];
/// Extras ModelScope takes in `params`: none.
const PARAMS: &[(&str, ParamType)] = &[];
/// How long to hold off when a 429 comes with a spent daily allowance and no `Retry-After`.
const SPENT_QUOTA_WAIT: Duration = Duration::from_secs(15 * 60);

const SUCCESS: &[&str] = &["SUCCEED", "SUCCEEDED", "SUCCESS"];
const FAILURE: &[&str] = &[
    "FAILED",
    "CANCEL",
    "CANCELED",
    "CANCELLED",
    "ERROR",
    "TIMEOUT",
    "UNKNOWN",
];

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

/// The rules for a model id: its row in the table, or the generic ones for an id the table
/// does not know yet.
fn rule_for(model: &str) -> &'static ModelRule {
    models::find(NAME, model).unwrap_or(&models::MODELSCOPE_GENERIC)
}

fn default_model() -> &'static str {
    models::default_for(NAME).map_or("Qwen/Qwen-Image", |m| m.id)
}

#[async_trait]
impl Provider for ModelScope {
    fn name(&self) -> &'static str {
        NAME
    }

    fn default_base_url(&self) -> &'static str {
        DEFAULT_BASE_URL
    }

    fn key_env_vars(&self) -> &'static [&'static str] {
        KEY_ENV_VARS
    }

    /// One task at a time per token is all ModelScope promises.
    fn default_limits(&self) -> Limits {
        Limits {
            max_concurrent: 1,
            requests_per_second: 1.0,
            timeout: Duration::from_secs(15 * 60),
        }
    }

    fn typical_duration(&self, spec: &JobSpec) -> Duration {
        let model = spec.model.as_deref().unwrap_or_else(|| default_model());
        Duration::from_secs(rule_for(model).typical_secs)
    }

    fn validate(&self, spec: &mut JobSpec) -> Result<JobKind, InvalidParam> {
        checks::image_kind(spec, NAME)?;
        let model = match spec.model.as_deref().map(str::trim) {
            None => default_model().to_string(),
            Some(m) if is_repo_id(m) => m.to_string(),
            Some(m) => {
                return Err(InvalidParam::new(
                    "model",
                    format!("{m:?} is not a ModelScope model id"),
                )
                .allowed(format!(
                    "an owner/name model id, e.g. {}",
                    models::ids(NAME).join(", ")
                )));
            }
        };
        let rule = rule_for(&model);
        spec.model = Some(model);

        checks::prompt(spec, rule)?;
        checks::negative_prompt(spec, rule)?;
        checks::size(spec, rule)?;
        checks::seed(spec)?;
        checks::steps(spec)?;
        checks::guidance(spec)?;
        match spec.n {
            None | Some(1) => {}
            Some(n) => {
                return Err(InvalidParam::new(
                    "n",
                    format!(
                        "ModelScope makes one image per task and has no n; for {n} images \
                         submit {n} jobs (or leave n out)"
                    ),
                )
                .allowed("1 (or leave n out)"));
            }
        }
        if rule.loras == LoraSupport::None && !spec.loras.is_empty() {
            return Err(InvalidParam::new(
                "loras",
                format!("{} takes no LoRAs", rule.id),
            ));
        }
        checks::loras(&spec.loras)?;
        image(spec, rule)?;
        checks::unsupported(
            "views",
            !spec.views.is_empty(),
            "ModelScope image generation takes one input image (image), not views",
        )?;
        checks::params(spec, NAME, PARAMS)?;
        Ok(JobKind::Image)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let key = ctx
            .key
            .as_ref()
            .ok_or_else(|| http::missing_key(NAME, KEY_ENV_VARS))?;
        let url = http::endpoint(&ctx.base_url, &["v1", "images", "generations"])?;
        let request = ctx
            .http
            .post(url)
            .bearer_auth(key.expose())
            .header("X-ModelScope-Async-Mode", "true")
            .json(&submit_body(spec));
        let reply = http::send(request).await?;
        self.record_quota(&reply.headers);
        if !reply.status.is_success() {
            return Err(http_error(&reply));
        }
        let body = reply.json().ok_or_else(|| http::malformed(NAME, &reply))?;
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
        let key = ctx
            .key
            .as_ref()
            .ok_or_else(|| http::missing_key(NAME, KEY_ENV_VARS))?;
        let url = http::endpoint(&ctx.base_url, &["v1", "tasks", remote_id])?;
        let request = ctx
            .http
            .get(url)
            .bearer_auth(key.expose())
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
        let key = ctx
            .key
            .as_ref()
            .ok_or_else(|| http::missing_key(NAME, KEY_ENV_VARS))?;
        let base = if ctx.base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
            BALANCE_BASE_URL
        } else {
            ctx.base_url.as_str()
        };
        let url = http::endpoint(base, &["openapi", "v1", "magicubes", "balance"])?;
        let reply = http::send(ctx.http.get(url).bearer_auth(key.expose())).await?;
        if !reply.status.is_success() {
            return Err(http_error(&reply));
        }
        let body = reply.json().ok_or_else(|| http::malformed(NAME, &reply))?;
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
        let mut detail = format!("{} points (魔粒) available", fmt_num(available));
        if let Some(total) = num("total_balance") {
            detail.push_str(&format!(" of {}", fmt_num(total)));
        }
        if let Some(frozen) = num("frozen_amount").filter(|f| *f > 0.0) {
            detail.push_str(&format!(", {} held by running tasks", fmt_num(frozen)));
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

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

/// ModelScope model and LoRA ids are `owner/name`.
fn is_repo_id(id: &str) -> bool {
    match id.split_once('/') {
        Some((owner, name)) => {
            !owner.is_empty()
                && !name.is_empty()
                && !name.contains('/')
                && !id.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

/// ModelScope fetches the input image itself, so it must be a public http(s) URL.
fn image(spec: &JobSpec, rule: &ModelRule) -> Result<(), InvalidParam> {
    let with_image = || {
        models::MODELS
            .iter()
            .filter(|m| m.provider == NAME && m.image != ImageInput::No)
            .map(|m| m.id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&spec.image, rule.image) {
        (None, ImageInput::Required) => Err(InvalidParam::new(
            "image",
            format!(
                "{} edits an image: give the input image as a public http(s) URL",
                rule.id
            ),
        )
        .allowed("a public http:// or https:// URL")),
        (Some(_), ImageInput::No) => Err(InvalidParam::new(
            "image",
            format!(
                "{} makes images from text only and takes no input image",
                rule.id
            ),
        )
        .allowed(format!("no image; models that take one: {}", with_image()))),
        (Some(image), _) => {
            let is_url = reqwest::Url::parse(image).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty())
            });
            if is_url {
                Ok(())
            } else {
                Err(InvalidParam::new(
                    "image",
                    format!(
                        "{image:?} is not a URL. ModelScope downloads the input image itself and \
                         genq cannot upload a local file for it: put the image somewhere public \
                         (e.g. upload it to a storage target) and pass its http(s) URL instead"
                    ),
                )
                .allowed("a public http:// or https:// URL"))
            }
        }
        (None, _) => Ok(()),
    }
}

/// The JSON body of `POST /v1/images/generations` (providers.md §1.2).
fn submit_body(spec: &JobSpec) -> Value {
    let mut body = Map::new();
    let model = spec.model.as_deref().unwrap_or_else(|| default_model());
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

/// Reads a task reply (providers.md §1.3). Unknown or missing statuses mean still running:
/// the enum is undocumented and the job timeout bounds the wait.
fn poll_status(body: &Value) -> PollStatus {
    let status = body
        .get("task_status")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_ascii_uppercase();
    let request_id = request_id(body);
    if SUCCESS.contains(&status.as_str()) {
        let outputs: Vec<RemoteOutput> = body
            .get("output_images")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| match v {
                Value::String(s) => Some(s.clone()),
                // Tolerate `{"url": …}` entries.
                other => other.get("url").and_then(Value::as_str).map(str::to_string),
            })
            .filter(|u| !u.is_empty())
            .map(|url| RemoteOutput {
                format: format_of(&url),
                url,
                role: OutputRole::Image,
                label: None,
            })
            .collect();
        if outputs.is_empty() {
            return PollStatus::Failed(
                ProviderError::final_error(
                    JobErrorKind::Provider,
                    format!("{NAME}: the task finished ({status}) but listed no output_images"),
                )
                .with_request_id(request_id),
            );
        }
        return PollStatus::Succeeded {
            outputs,
            failures: Vec::new(),
            request_id,
            created_at: None,
            finished_at: None,
        };
    }
    let failed = FAILURE.contains(&status.as_str());
    // An error envelope without any status is not a running task either.
    if failed || (status.is_empty() && error_message(body).is_some()) {
        return PollStatus::Failed(task_failure(&status, body));
    }
    PollStatus::Pending {
        progress: None,
        eta: None,
    }
}

fn task_failure(status: &str, body: &Value) -> ProviderError {
    let message = error_message(body);
    let code = error_code(body);
    let status_name = if status.is_empty() {
        "an error"
    } else {
        status
    };
    let text = match &message {
        Some(m) => format!("{NAME}: the task ended with {status_name}: {m}"),
        None => format!("{NAME}: the task ended with {status_name} and no message"),
    };
    let kind = if is_content_policy(code.as_deref(), message.as_deref()) {
        JobErrorKind::ContentPolicy
    } else {
        JobErrorKind::Provider
    };
    ProviderError::final_error(kind, text).with_request_id(request_id(body))
}

fn not_yet_found(remote_id: &str, request_id: Option<String>) -> ProviderError {
    ProviderError::retryable(
        JobErrorKind::NotFound,
        format!(
            "{NAME}: task {remote_id} not found (usual for a few seconds after submitting; \
             also what a poll under another key gets)"
        ),
    )
    .with_request_id(request_id)
}

/// A non-2xx reply, classified (providers.md §1.5).
fn http_error(reply: &Reply) -> ProviderError {
    match reply.json() {
        Some(body) => body_error(reply, &body),
        None => {
            let text = if reply.body.is_empty() {
                reply
                    .status
                    .canonical_reason()
                    .unwrap_or("no message")
                    .to_string()
            } else {
                reply.snippet()
            };
            finish_error(reply, None, &text, None)
        }
    }
}

fn body_error(reply: &Reply, body: &Value) -> ProviderError {
    let message = error_message(body).unwrap_or_else(|| reply.snippet());
    finish_error(
        reply,
        error_code(body).as_deref(),
        &message,
        request_id(body),
    )
}

fn finish_error(
    reply: &Reply,
    code: Option<&str>,
    message: &str,
    request_id: Option<String>,
) -> ProviderError {
    let status = reply.status;
    let mut e = http::classify_status(
        status,
        format!("{NAME}: HTTP {}: {message}", status.as_u16()),
    )
    .with_request_id(request_id);
    if status.is_success() {
        // An error envelope on a 2xx reply: the provider refused, but says nothing retryable.
        e.kind = JobErrorKind::Provider;
        e.retryable = false;
    }
    if is_content_policy(code, Some(message)) {
        e.kind = JobErrorKind::ContentPolicy;
        e.retryable = false;
    }
    if status.as_u16() == 429 {
        let spent = quota_from_headers(&reply.headers).is_some_and(|q| q.remaining == Some(0));
        e.retry_after = http::retry_after(&reply.headers).or(spent.then_some(SPENT_QUOTA_WAIT));
    }
    e
}

fn is_content_policy(code: Option<&str>, message: Option<&str>) -> bool {
    code == Some("422")
        || message.is_some_and(|m| m.to_ascii_lowercase().contains("inappropriate content"))
}

fn is_task_not_found(message: &str) -> bool {
    message.to_ascii_lowercase().contains("task not found")
}

fn error_message(body: &Value) -> Option<String> {
    let errors = body.get("errors")?;
    match errors {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        other => other
            .get("message")
            .and_then(Value::as_str)
            .filter(|m| !m.is_empty())
            .map(str::to_string),
    }
}

fn error_code(body: &Value) -> Option<String> {
    http::text_of(body.get("errors")?.get("code"))
}

/// `request_id` at the top level, or inside `errors` as some replies have it.
fn request_id(body: &Value) -> Option<String> {
    http::text_of(body.get("request_id"))
        .or_else(|| http::text_of(body.get("errors").and_then(|e| e.get("request_id"))))
}

/// The file type an output URL names, if any.
fn format_of(url: &str) -> Option<String> {
    let path = reqwest::Url::parse(url).ok()?.path().to_ascii_lowercase();
    let ext = path.rsplit_once('.')?.1;
    match ext {
        "png" | "webp" => Some(ext.to_string()),
        "jpg" | "jpeg" => Some("jpg".to_string()),
        _ => None,
    }
}

/// The four `modelscope-ratelimit-*` headers, when any is present: the user's daily figures
/// as `remaining`/`limit`, the model's in `detail`.
fn quota_from_headers(headers: &reqwest::header::HeaderMap) -> Option<QuotaInfo> {
    let num = |name: &str| -> Option<i64> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    let user_limit = num("modelscope-ratelimit-requests-limit");
    let user_left = num("modelscope-ratelimit-requests-remaining");
    let model_limit = num("modelscope-ratelimit-model-requests-limit");
    let model_left = num("modelscope-ratelimit-model-requests-remaining");
    if [user_limit, user_left, model_limit, model_left]
        .iter()
        .all(Option::is_none)
    {
        return None;
    }
    let show = |v: Option<i64>| v.map_or("?".to_string(), |v| v.to_string());
    let detail = format!(
        "requests today: user {} of {} left, model {} of {} left",
        show(user_left),
        show(user_limit),
        show(model_left),
        show(model_limit)
    );
    // Whichever allowance is closer to running out is the one that matters.
    let (remaining, limit) = match (user_left, model_left) {
        (Some(u), Some(m)) if m < u => (Some(m), model_limit),
        (Some(u), _) => (Some(u), user_limit),
        (None, Some(m)) => (Some(m), model_limit),
        (None, None) => (None, user_limit.or(model_limit)),
    };
    Some(QuotaInfo {
        remaining,
        limit,
        detail: Some(detail),
    })
}

#[cfg(test)]
mod tests;
