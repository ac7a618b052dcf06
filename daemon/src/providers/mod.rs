//! Provider adaptors behind one trait. Each adaptor turns a [`JobSpec`] into one provider's
//! HTTP calls and the provider's replies into [`PollStatus`]; retries, budgets, timeouts and
//! persistence belong to the engine, so an adaptor call is one attempt.
//!
//! Layout: [`adaptor`] holds the trait and what crosses it, [`registry`] the adaptors by
//! name, [`http`] the reply handling every adaptor shares, [`checks`] the parameter checks,
//! [`model_rules`] the ranges they read from a model's catalog entry,
//! [`builtin_models`] the built-in model table (the catalog's seed), [`redact`] secret
//! masking; `modelscope/`, `dashscope/` and `tripo/` one adaptor each.
//!
//! Adding a provider touches its own module, its line in [`Registry::builtin`] and its
//! rows in the built-in model table, nothing shared.
//!
//! [`JobSpec`]: genq_protocol::JobSpec

pub mod adaptor;
pub mod builtin_models;
pub mod checks;
pub mod dashscope;
pub mod http;
pub mod model_rules;
pub mod modelscope;
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

use std::fmt;

/// An API key. Its `Debug` and `Display` never show the value, so it cannot leak through a
/// log line or an error message by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The key itself, for the request header that carries it and for masking it in text.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
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
