//! The contract between the engine and an adaptor: the [`Provider`] trait, what a call gets
//! ([`CallContext`]) and what it returns ([`Submitted`], [`PollStatus`], [`ProviderError`]).
//! Every adaptor and the engine import from here; this file imports no adaptor.

use super::builtin_models;
use super::redact;
pub use crate::config::Limits;
use crate::secret::Secret;
use async_trait::async_trait;
use genq_protocol::catalog::{Model, ModelInput, ModelParam};
use genq_protocol::job::OutputRole;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use std::time::Duration;

/// What genq knows about a provider before reading any config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProviderInfo {
    /// The name used in config and on jobs (`modelscope`, `dashscope`, `tripo`).
    pub name: &'static str,
    /// The base URL used when the config does not set one.
    pub default_base_url: &'static str,
    /// Environment variables the key is read from when the config names none, in order.
    pub key_env_vars: &'static [&'static str],
    /// Defaults for `max_concurrent` (remote tasks in flight), `requests_per_second` and the
    /// job timeout.
    pub limits: Limits,
}

/// What an adaptor needs for one call, resolved from the config in force at that moment (so
/// a hot-reloaded key or base URL applies to the next request).
#[derive(Clone, Debug)]
pub struct CallContext {
    pub http: reqwest::Client,
    /// Without a trailing slash.
    pub base_url: String,
    /// `None` when no key is configured; adaptors that need one fail with kind `auth`.
    pub key: Option<Secret>,
    /// A private directory where an adaptor keeps results that came back inside a reply
    /// (decoded images) until the engine stores them; they are handed over as `file://`
    /// URLs inside it.
    pub spool: std::path::PathBuf,
}

impl CallContext {
    /// The key, or the `auth` error naming where to put one: refused before any request.
    pub fn require_key(&self, info: &ProviderInfo) -> Result<&Secret, ProviderError> {
        self.key
            .as_ref()
            .ok_or_else(|| ProviderError::missing_key(info))
    }
}

/// A parameter refused before anything was sent.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidParam {
    /// Path of the field in the spec, e.g. `loras[2].weight` or `size`.
    pub field: String,
    pub message: String,
    /// What would have been accepted, e.g. `64x64 to 1664x1664`.
    pub allowed: Option<String>,
}

impl InvalidParam {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        InvalidParam {
            field: field.into(),
            message: message.into(),
            allowed: None,
        }
    }

    pub fn allowed(mut self, allowed: impl Into<String>) -> Self {
        self.allowed = Some(allowed.into());
        self
    }
}

/// A failed provider call, classified.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: JobErrorKind,
    /// Worth trying again later (network, 5xx, 429, a task the provider has not indexed yet).
    pub retryable: bool,
    /// The provider's own words, never including the key.
    pub message: String,
    pub request_id: Option<String>,
    /// The provider asked us to wait this long (`Retry-After`), for every job of this provider.
    pub retry_after: Option<Duration>,
    /// The request was refused for rate or concurrency reasons: slow the whole provider down.
    pub rate_limited: bool,
    /// The provider may have acted on the request although no usable answer came back: it
    /// was sent and then timed out or was cut off, the reply was a 5xx, or a 2xx that could
    /// not be read. Sending such a request again could create a second task.
    pub maybe_accepted: bool,
}

impl ProviderError {
    /// The message is scrubbed of bearer tokens and authorization values, whatever reply
    /// it was built from.
    pub fn final_error(kind: JobErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            retryable: false,
            message: redact::scrub(&message.into(), &[]),
            request_id: None,
            retry_after: None,
            rate_limited: false,
            maybe_accepted: false,
        }
    }

    pub fn retryable(kind: JobErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            retryable: true,
            ..ProviderError::final_error(kind, message)
        }
    }

    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }

    /// The error for a call made without a key: final, kind `auth`, naming where to put one.
    pub fn missing_key(info: &ProviderInfo) -> Self {
        let provider = info.name;
        let env = match info.key_env_vars {
            [] => String::new(),
            [one] => format!("set {one}, or "),
            [first, rest @ ..] => format!("set {first} (or {}), or ", rest.join(", ")),
        };
        ProviderError::final_error(
            JobErrorKind::Auth,
            format!(
                "no API key for {provider}: {env}set api_key_env, api_key_cmd or api_key under \
                 [providers.{provider}] in config.toml"
            ),
        )
    }

    /// The same error for a request that cannot have created a task (an upload before the
    /// task request), so repeating it is safe.
    pub fn no_task_created(mut self) -> Self {
        self.maybe_accepted = false;
        self
    }
}

/// The provider accepted a task.
#[derive(Clone, Debug, PartialEq)]
pub struct Submitted {
    pub remote_id: String,
    pub request_id: Option<String>,
}

/// One result the provider produced, still on the provider's side.
#[derive(Clone, Debug, PartialEq)]
pub struct RemoteOutput {
    pub url: String,
    pub role: OutputRole,
    /// Expected file extension (`png`, `jpg`, `glb`, `fbx`), when the provider says.
    pub format: Option<String>,
    /// Provider-side name for this output (`model`, `pbr_model`, `rendered_image`).
    pub label: Option<String>,
}

/// Where a remote task stands.
#[derive(Clone, Debug, PartialEq)]
pub enum PollStatus {
    /// Still queued or running.
    Pending {
        /// 0–100 when the provider reports it.
        progress: Option<u8>,
        /// The provider's own estimate of the time left.
        eta: Option<Duration>,
    },
    /// Done. `failures` lists per-output errors of a partial success (index, message).
    Succeeded {
        outputs: Vec<RemoteOutput>,
        failures: Vec<String>,
        request_id: Option<String>,
        /// When the provider says it created the task (Tripo's `create_time`), for the
        /// generation time; `None` when it does not say.
        created_at: Option<genq_protocol::Timestamp>,
        /// When the provider says the task finished (DashScope's `end_time`): polling learns
        /// from it how long tasks take, rather than from when a poll noticed.
        finished_at: Option<genq_protocol::Timestamp>,
    },
    Failed(ProviderError),
}

/// Quota and rate figures a provider reported in its headers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuotaInfo {
    pub remaining: Option<i64>,
    pub limit: Option<i64>,
    /// Free-form detail, e.g. `model: 180/200`.
    pub detail: Option<String>,
}

/// One provider's adaptor.
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    /// Name, default base URL, key variables and default limits.
    fn info(&self) -> &'static ProviderInfo;

    /// The name used in config and on jobs (`modelscope`, `dashscope`, `tripo`).
    fn name(&self) -> &'static str {
        self.info().name
    }

    /// The base URL used when the config does not set one.
    fn default_base_url(&self) -> &'static str {
        self.info().default_base_url
    }

    /// Environment variables the key is read from when the config names none, in order.
    fn key_env_vars(&self) -> &'static [&'static str] {
        self.info().key_env_vars
    }

    /// Defaults for `max_concurrent` (remote tasks in flight) and `requests_per_second`.
    fn default_limits(&self) -> Limits {
        self.info().limits
    }

    /// Typical duration of a task before any history exists, for the first poll: the
    /// model's entry in the built-in table, else the provider's default model's.
    fn typical_duration(&self, spec: &JobSpec) -> Duration {
        Duration::from_secs(builtin_models::typical_secs(
            self.name(),
            spec.model.as_deref(),
        ))
    }

    /// Checks and completes a spec before anything is sent: fills the default model and
    /// provider defaults, refuses what the provider would refuse. Ranges and defaults come
    /// from the model's entry among `entries` (the catalog's models of this provider); a
    /// model without one gets the provider's generic rules. Runs in the daemon on `submit`,
    /// so a bad job never reaches the queue.
    fn validate(&self, spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam>;

    /// One attempt to create the remote task. An error with `maybe_accepted` may have created
    /// it all the same, so the engine sends such a submit again only when
    /// [`idempotent_submit`](Self::idempotent_submit) says that is safe.
    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError>;

    /// Whether sending the same submit twice creates one task (the provider takes an
    /// idempotency key). None of the built-in providers documents one.
    fn idempotent_submit(&self) -> bool {
        false
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError>;

    /// Asks the provider to stop a task, where it supports that. Best effort.
    async fn cancel(&self, _ctx: &CallContext, _remote_id: &str) -> Result<(), ProviderError> {
        Ok(())
    }

    /// Remaining quota or balance, where the provider reports it.
    async fn quota(&self, _ctx: &CallContext) -> Result<Option<QuotaInfo>, ProviderError> {
        Ok(None)
    }

    /// Whether [`Provider::list_models`] may ask the provider: only then does the engine
    /// prepare a call for it at start and after each config change.
    fn lists_models(&self) -> bool {
        false
    }

    /// The model ids the provider lists for this account (an OpenAI-compatible gateway's
    /// `GET /v1/models`), for the catalog; `None` when it lists none or its config names them.
    async fn list_models(&self, _ctx: &CallContext) -> Result<Option<Vec<String>>, ProviderError> {
        Ok(None)
    }

    /// The latest quota figures the provider sent in reply headers (e.g. ModelScope's
    /// `modelscope-ratelimit-*`), from any submit or poll, without a request of its own.
    /// `None` when the provider never sent any.
    fn last_quota(&self) -> Option<QuotaInfo> {
        None
    }
}

/// The catalog entry of an image model a configured instance serves (a ComfyUI workflow, a
/// model behind an OpenAI-compatible API): text to image, and image to image when it takes
/// an input image.
pub fn instance_image_entry(
    supplier: &str,
    id: &str,
    description: String,
    takes_image: bool,
    params: Vec<ModelParam>,
) -> ModelInput {
    let mut capabilities = vec!["text_to_image".to_string()];
    if takes_image {
        capabilities.push("image_to_image".into());
    }
    ModelInput {
        supplier: supplier.into(),
        id: id.into(),
        display_name: Some(id.into()),
        description,
        kind: JobKind::Image.as_str().into(),
        sub_type: "text_to_image".into(),
        lora_family: None,
        active: true,
        capabilities,
        categories: vec!["image".into()],
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_key_names_every_place_to_set_one() {
        let e = ProviderError::missing_key(&ProviderInfo {
            name: "modelscope",
            default_base_url: "",
            key_env_vars: &["MODELSCOPE_API_TOKEN", "MODELSCOPE_API_KEY"],
            limits: Limits::default(),
        });
        assert_eq!(e.kind, JobErrorKind::Auth);
        assert!(!e.retryable);
        for s in [
            "MODELSCOPE_API_TOKEN",
            "MODELSCOPE_API_KEY",
            "[providers.modelscope]",
        ] {
            assert!(e.message.contains(s), "{}", e.message);
        }
    }
}
