//! What the engine refuses, as callers see it.

use crate::catalog::SpecCheckError;
use crate::providers::InvalidParam;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Invalid(#[from] InvalidParam),
    #[error("unknown provider {name:?}; known: {known}")]
    UnknownProvider { name: String, known: String },
    /// The provider needs a key and the daemon has none: nothing was created or sent.
    #[error("{message}")]
    MissingKey {
        message: String,
        /// The environment variables the daemon looked in.
        env_vars: Vec<String>,
    },
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The outputs directory could not be read.
    #[error("{0}")]
    Disk(String),
}

impl From<SpecCheckError> for EngineError {
    fn from(e: SpecCheckError) -> Self {
        match e {
            SpecCheckError::Invalid(e) => EngineError::Invalid(e),
            SpecCheckError::Store(e) => EngineError::Store(e),
        }
    }
}
