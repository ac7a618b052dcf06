//! Provider adaptors behind one trait. Each adaptor turns a [`JobSpec`] into one provider's
//! HTTP calls and the provider's replies into [`PollStatus`]; retries, budgets, timeouts and
//! persistence belong to the engine, so an adaptor call is one attempt.
//!
//! Layout: [`adaptor`] holds the trait and what crosses it, [`registry`] the adaptors by
//! name, [`http`] the reply handling every adaptor shares, [`checks`] the parameter checks,
//! [`model_rules`] the ranges they read from a model's catalog entry,
//! [`builtin_models`] the built-in model table (the catalog's seed), [`redact`] secret
//! masking; `modelscope/`, `dashscope/`, `tripo/`, `openai/` and `comfyui/` one adaptor each.
//!
//! Adding a provider touches its own module, its line in [`Registry::builtin`] and its
//! rows in the built-in model table, nothing shared.
//!
//! [`JobSpec`]: genq_protocol::JobSpec

pub mod adaptor;
pub mod builtin_models;
pub mod checks;
pub mod comfyui;
pub mod dashscope;
pub mod http;
pub mod input_image;
pub mod model_rules;
pub mod modelscope;
pub mod openai;
pub mod redact;
pub mod registry;
pub mod tripo;

#[cfg(test)]
mod test_server;

pub use adaptor::{
    CallContext, InvalidParam, Limits, PollStatus, Provider, ProviderError, ProviderInfo,
    QuotaInfo, RemoteOutput, Submitted,
};
pub use registry::Registry;
