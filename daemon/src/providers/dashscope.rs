//! The DashScope (Alibaba Cloud Model Studio) Wan text-to-image adaptor (`dashscope`):
//! validates jobs against each Wan model's catalog entry, creates async `image-synthesis`
//! tasks, reads task status including partial failures, and cancels pending tasks.
//! Contract: providers.md §2.

use super::builtin_models::{self, ProviderId};
use super::checks::{self, ParamType};
use super::http::{self, Reply};
use super::model_rules::ModelRules;
use crate::providers::adaptor::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, ProviderInfo,
    RemoteOutput, Submitted,
};
use async_trait::async_trait;
use genq_protocol::catalog::Model;
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use reqwest::Method;
use serde_json::{Map, Value, json};
use std::time::Duration;

pub const NAME: &str = ProviderId::DashScope.name();
pub const DEFAULT_BASE_URL: &str = "https://dashscope.aliyuncs.com";

static INFO: ProviderInfo = ProviderInfo {
    name: NAME,
    default_base_url: DEFAULT_BASE_URL,
    key_env_vars: &["DASHSCOPE_API_KEY"],
    // 2 submits a second and 2 tasks at once per Alibaba Cloud account.
    limits: Limits {
        max_concurrent: 2,
        requests_per_second: 2.0,
        timeout: Duration::from_secs(15 * 60),
    },
};
/// Extras DashScope takes in `params`, sent under `parameters`.
const PARAMS: &[(&str, ParamType)] = &[
    ("prompt_extend", ParamType::Bool),
    ("watermark", ParamType::Bool),
];
/// Most images one task makes.
pub const N_MAX: u32 = 4;
/// How long to hold off after `Throttling.AllocationQuota` (a spent allowance) when the
/// reply gives no `Retry-After`.
const SPENT_QUOTA_WAIT: Duration = Duration::from_secs(15 * 60);
const CREATE_PATH: &[&str] = &[
    "api",
    "v1",
    "services",
    "aigc",
    "text2image",
    "image-synthesis",
];

/// The adaptor. It holds no key: keys come with each call's [`CallContext`].
#[derive(Debug, Default)]
pub struct DashScope;

impl DashScope {
    pub fn new() -> Self {
        DashScope
    }
}

#[async_trait]
impl Provider for DashScope {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    fn validate(&self, spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
        checks::image_kind(spec, NAME)?;
        let model = builtin_models::model_or_default(NAME, spec.model.as_deref().map(str::trim))
            .unwrap_or_default()
            .to_string();
        let entry = entries.iter().find(|m| m.id == model);
        if entry.is_none() && builtin_models::find(NAME, &model).is_none() {
            return Err(InvalidParam::new(
                "model",
                format!("{model:?} is not a DashScope text-to-image model genq knows"),
            )
            .allowed(builtin_models::ids(NAME).join(", ")));
        }
        let rule = &ModelRules::new(&model, entry, &builtin_models::DASHSCOPE_GENERIC);
        spec.model = Some(model);

        checks::image_basics(spec, rule)?;
        let no_such = |what: &str| format!("DashScope Wan text-to-image has no {what} parameter");
        checks::unsupported("steps", spec.steps.is_some(), &no_such("steps"))?;
        checks::unsupported("guidance", spec.guidance.is_some(), &no_such("guidance"))?;
        checks::unsupported(
            "loras",
            !spec.loras.is_empty(),
            &format!("{} takes no LoRAs", rule.id),
        )?;
        checks::unsupported(
            "image",
            spec.image.is_some(),
            "the DashScope text-to-image endpoint takes no input image",
        )?;
        checks::unsupported(
            "views",
            !spec.views.is_empty(),
            "the DashScope text-to-image endpoint takes no input views",
        )?;
        let (min, max) = rule.n.unwrap_or((1, N_MAX));
        match spec.n {
            // The provider's own default is 4 images, each billed: always say how many.
            None => spec.n = Some(rule.n_default.unwrap_or(1)),
            Some(n) if (min..=max).contains(&n) => {}
            Some(n) => {
                return Err(
                    InvalidParam::new("n", format!("{n} images per task is out of range"))
                        .allowed(format!("{min}–{max}")),
                );
            }
        }
        checks::params(spec, NAME, PARAMS, rule)?;
        Ok(JobKind::Image)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let request = http::keyed(ctx, &INFO, Method::POST, CREATE_PATH)?
            .header("X-DashScope-Async", "enable")
            .json(&create_body(spec));
        let reply = http::send(request).await?;
        let body = reply.json();
        if !reply.status.is_success() {
            return Err(http_error(&reply, body.as_ref()));
        }
        let body = body.ok_or_else(|| http::malformed(NAME, &reply))?;
        let request_id = http::text_of(body.get("request_id"));
        match http::text_of(body.get("output").and_then(|o| o.get("task_id"))) {
            Some(remote_id) => Ok(Submitted {
                remote_id,
                request_id,
            }),
            // A 2xx create reply with `code`/`message` and no task.
            None if body.get("code").is_some() => Err(http_error(&reply, Some(&body))),
            None => Err(http::malformed(NAME, &reply)),
        }
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        let path = ["api", "v1", "tasks", remote_id];
        let reply = http::send(http::keyed(ctx, &INFO, Method::GET, &path)?).await?;
        let body = reply.json();
        if !reply.status.is_success() {
            return Err(http_error(&reply, body.as_ref()));
        }
        let body = body.ok_or_else(|| http::malformed(NAME, &reply))?;
        match body.get("output") {
            Some(output) => Ok(poll_status(
                remote_id,
                output,
                http::text_of(body.get("request_id")),
            )),
            None if body.get("code").is_some() => Err(http_error(&reply, Some(&body))),
            None => Err(http::malformed(NAME, &reply)),
        }
    }

    /// `POST /api/v1/tasks/{id}/cancel`; DashScope cancels only tasks still `PENDING`.
    async fn cancel(&self, ctx: &CallContext, remote_id: &str) -> Result<(), ProviderError> {
        let path = ["api", "v1", "tasks", remote_id, "cancel"];
        let reply = http::send(http::keyed(ctx, &INFO, Method::POST, &path)?).await?;
        if reply.status.is_success() {
            Ok(())
        } else {
            Err(http_error(&reply, reply.json().as_ref()))
        }
    }
}

/// The JSON body of the create call (providers.md §2.3). `n` is always sent.
fn create_body(spec: &JobSpec) -> Value {
    let mut input = Map::new();
    input.insert("prompt".into(), json!(spec.prompt));
    if let Some(n) = &spec.negative_prompt {
        input.insert("negative_prompt".into(), json!(n));
    }
    let mut parameters = Map::new();
    if let Some(size) = spec.size {
        parameters.insert(
            "size".into(),
            json!(format!("{}*{}", size.width, size.height)),
        );
    }
    parameters.insert("n".into(), json!(spec.n.unwrap_or(1)));
    if let Some(seed) = spec.seed {
        parameters.insert("seed".into(), json!(seed));
    }
    for (k, v) in &spec.params {
        parameters.insert(k.clone(), v.clone());
    }
    json!({
        "model": builtin_models::model_or_default(NAME, spec.model.as_deref()),
        "input": input,
        "parameters": parameters,
    })
}

/// Reads `output` of a task reply (providers.md §2.4).
fn poll_status(remote_id: &str, output: &Value, request_id: Option<String>) -> PollStatus {
    let status = http::status_word(output, "task_status").to_ascii_uppercase();
    let code = http::text_of(output.get("code"));
    let message = http::text_of(output.get("message"));
    match status.as_str() {
        "SUCCEEDED" => succeeded(output, request_id),
        "FAILED" => {
            let mut e = classify(None, code.as_deref(), message.as_deref(), None);
            e.message = format!("{NAME}: the task failed: {}", describe(&code, &message));
            PollStatus::Failed(task_final(e, request_id))
        }
        "CANCELED" => PollStatus::Failed(task_final(
            ProviderError::final_error(
                JobErrorKind::Provider,
                format!(
                    "{NAME}: the task was canceled: {}",
                    describe(&code, &message)
                ),
            ),
            request_id,
        )),
        "UNKNOWN" => PollStatus::Failed(task_final(
            ProviderError::final_error(
                JobErrorKind::NotFound,
                format!(
                    "{NAME}: task {remote_id} is unknown: it does not exist under this key or \
                     has expired (task ids last 24 h)"
                ),
            ),
            request_id,
        )),
        // PENDING, RUNNING, and anything newer: still going, bounded by the job timeout.
        _ => PollStatus::Pending {
            progress: None,
            eta: None,
        },
    }
}

/// A task failure is the end of that task, whatever its code says.
fn task_final(mut e: ProviderError, request_id: Option<String>) -> ProviderError {
    e.retryable = false;
    e.rate_limited = false;
    e.retry_after = None;
    e.request_id = request_id;
    e
}

/// `SUCCEEDED`: each `results[]` entry is an image URL or a per-image `code`/`message`.
fn succeeded(output: &Value, request_id: Option<String>) -> PollStatus {
    let mut outputs = Vec::new();
    let mut failures = Vec::new();
    let mut first_failure: Option<(Option<String>, Option<String>)> = None;
    let results = output.get("results").and_then(Value::as_array);
    for (i, r) in results.into_iter().flatten().enumerate() {
        match r
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
        {
            Some(url) => outputs.push(RemoteOutput {
                url: url.to_string(),
                role: OutputRole::Image,
                format: Some("png".to_string()),
                label: None,
            }),
            None => {
                let code = http::text_of(r.get("code"));
                let message = http::text_of(r.get("message"));
                failures.push(format!("image {i}: {}", describe(&code, &message)));
                first_failure.get_or_insert((code, message));
            }
        }
    }
    if outputs.is_empty() {
        let (code, message) = first_failure.unwrap_or((None, None));
        let mut e = classify(None, code.as_deref(), message.as_deref(), None);
        e.message = if failures.is_empty() {
            format!("{NAME}: the task succeeded but listed no result URLs")
        } else {
            format!("{NAME}: every image failed: {}", failures.join("; "))
        };
        if failures.is_empty() {
            e.kind = JobErrorKind::Provider;
        }
        return PollStatus::Failed(task_final(e, request_id));
    }
    PollStatus::Succeeded {
        outputs,
        failures,
        request_id,
        created_at: beijing_time(output.get("submit_time")),
        finished_at: beijing_time(output.get("end_time")),
    }
}

/// A DashScope task time (`2025-01-08 16:03:59.840`, Beijing time, UTC+8).
fn beijing_time(v: Option<&Value>) -> Option<genq_protocol::Timestamp> {
    let format = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second].[subsecond]"
    );
    let at = time::PrimitiveDateTime::parse(v?.as_str()?, format).ok()?;
    let at = at.assume_offset(time::macros::offset!(+8));
    let ms = at.unix_timestamp_nanos() / 1_000_000;
    Some(genq_protocol::Timestamp::from_unix_millis(
        i64::try_from(ms).ok()?,
    ))
}

fn describe(code: &Option<String>, message: &Option<String>) -> String {
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "no reason given".to_string(),
    }
}

/// A non-2xx reply (or a 2xx one carrying an error code), classified by its `code`.
fn http_error(reply: &Reply, body: Option<&Value>) -> ProviderError {
    let code = body.and_then(|b| http::text_of(b.get("code")));
    let message = body
        .and_then(|b| http::text_of(b.get("message")))
        .or_else(|| (!reply.body.is_empty()).then(|| reply.snippet()))
        .or_else(|| reply.status.canonical_reason().map(str::to_string));
    let mut e = classify(
        Some(reply),
        code.as_deref(),
        message.as_deref(),
        body.and_then(|b| http::text_of(b.get("request_id"))),
    );
    e.message = format!(
        "{NAME}: HTTP {}: {}",
        reply.status.as_u16(),
        describe(&code, &message)
    );
    e
}

/// The error-code table of providers.md §2.5. `reply` is `None` for task failures, which
/// carry a code but no HTTP status of their own.
fn classify(
    reply: Option<&Reply>,
    code: Option<&str>,
    message: Option<&str>,
    request_id: Option<String>,
) -> ProviderError {
    let text = message.unwrap_or("").to_string();
    let base = match reply {
        Some(r) => http::classify_status(r.status, text.clone()),
        None => ProviderError::final_error(JobErrorKind::Provider, text.clone()),
    };
    let lower = text.to_ascii_lowercase();
    let mut e = match code.unwrap_or("") {
        "DataInspectionFailed" | "IPInfringementSuspect" => {
            ProviderError::final_error(JobErrorKind::ContentPolicy, text)
        }
        "Arrearage" => ProviderError::final_error(JobErrorKind::InsufficientCredits, text),
        // The model or account cannot take async calls: a configuration error, not a key one.
        _ if lower.contains("does not support synchronous calls")
            || lower.contains("does not support asynchronous calls") =>
        {
            ProviderError::final_error(JobErrorKind::InvalidParams, text)
        }
        "InvalidApiKey" | "AccessDenied" => ProviderError::final_error(JobErrorKind::Auth, text),
        "Throttling.AllocationQuota" => {
            let mut e = ProviderError::retryable(JobErrorKind::Quota, text);
            e.rate_limited = true;
            e.retry_after = Some(SPENT_QUOTA_WAIT);
            e
        }
        c if c.starts_with("Throttling") => {
            let mut e = ProviderError::retryable(JobErrorKind::Quota, text);
            e.rate_limited = true;
            e
        }
        c if c == "InvalidParameter" || c.starts_with("BadRequest") => {
            ProviderError::final_error(JobErrorKind::InvalidParams, text)
        }
        _ => base,
    };
    if let Some(r) = reply {
        if r.status.as_u16() == 429 {
            e.rate_limited = true;
            e.retryable = true;
        }
        // Whatever the code says, a 5xx may come after the task was created.
        e.maybe_accepted = r.status.is_server_error() && !e.rate_limited;
        if let Some(wait) = http::retry_after(&r.headers) {
            e.retry_after = Some(wait);
        }
    }
    e.with_request_id(request_id)
}

#[cfg(test)]
mod tests;
