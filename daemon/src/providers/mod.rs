//! Provider adaptors behind one trait. Each adaptor turns a [`JobSpec`] into one provider's
//! HTTP calls and the provider's replies into [`PollStatus`]; retries, budgets, timeouts and
//! persistence belong to the engine, so an adaptor call is one attempt.
//!
//! Adding a provider touches its own module, its line in [`Registry::builtin`] and its
//! catalog entries, nothing shared.

pub mod checks;
pub mod dashscope;
pub mod http;
pub mod models;
pub mod modelscope;
pub mod redact;
pub mod tripo;

#[cfg(test)]
mod test_server;

use crate::config::{KnownProviders, Limits, ProviderDefaults};
use crate::secret::Secret;
use async_trait::async_trait;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// What an adaptor needs for one call, resolved from the config in force at that moment (so
/// a hot-reloaded key or base URL applies to the next request).
#[derive(Clone, Debug)]
pub struct CallContext {
    pub http: reqwest::Client,
    /// Without a trailing slash.
    pub base_url: String,
    /// `None` when no key is configured; adaptors that need one fail with kind `auth`.
    pub key: Option<Secret>,
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

/// What an output URL is expected to hold, for naming and verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputRole {
    /// The generated image.
    Image,
    /// A generated 3D model (GLB unless `format` says otherwise).
    Model,
    /// A preview render of a 3D model.
    Preview,
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
    /// The name used in config and on jobs (`modelscope`, `dashscope`, `tripo`).
    fn name(&self) -> &'static str;

    /// The base URL used when the config does not set one.
    fn default_base_url(&self) -> &'static str;

    /// Environment variables the key is read from when the config names none, in order.
    fn key_env_vars(&self) -> &'static [&'static str];

    /// Defaults for `max_concurrent` (remote tasks in flight) and `requests_per_second`.
    fn default_limits(&self) -> Limits {
        Limits::default()
    }

    /// Typical duration of a task before any history exists, for the first poll.
    fn typical_duration(&self, _spec: &JobSpec) -> Duration {
        Duration::from_secs(20)
    }

    /// Checks and completes a spec before anything is sent: fills the default model and
    /// provider defaults, refuses what the provider would refuse. Runs in the daemon on
    /// `submit`, so a bad job never reaches the queue.
    fn validate(&self, spec: &mut JobSpec) -> Result<JobKind, InvalidParam>;

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

    /// The latest quota figures the provider sent in reply headers (e.g. ModelScope's
    /// `modelscope-ratelimit-*`), from any submit or poll, without a request of its own.
    /// `None` when the provider never sent any.
    fn last_quota(&self) -> Option<QuotaInfo> {
        None
    }
}

/// Adaptors by name.
#[derive(Clone, Default)]
pub struct Registry {
    providers: BTreeMap<&'static str, Arc<dyn Provider>>,
}

impl Registry {
    /// Every adaptor genq ships.
    pub fn builtin() -> Self {
        let mut registry = Registry::default();
        registry.register(Arc::new(modelscope::ModelScope::new()));
        registry.register(Arc::new(dashscope::DashScope::new()));
        registry.register(Arc::new(tripo::Tripo::new()));
        registry
    }

    pub fn register(&mut self, provider: Arc<dyn Provider>) {
        self.providers.insert(provider.name(), provider);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.providers.keys().copied()
    }
}

impl KnownProviders for Registry {
    fn provider_names(&self) -> Vec<&'static str> {
        self.names().collect()
    }

    fn provider_defaults(&self, name: &str) -> Option<ProviderDefaults> {
        self.get(name).map(|p| ProviderDefaults {
            base_url: p.default_base_url(),
            key_env_vars: p.key_env_vars(),
            limits: p.default_limits(),
        })
    }
}
