//! Store and engine errors as the protocol's error replies.

use crate::engine::EngineError;
use crate::store::StoreError;
use genq_protocol::{ErrorKind, RpcError};

impl From<StoreError> for RpcError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) | StoreError::NoJobNumber { .. } => {
                RpcError::new(ErrorKind::NotFound, e.to_string())
            }
            StoreError::Ambiguous { .. } => RpcError::new(ErrorKind::Ambiguous, e.to_string()),
            StoreError::IllegalTransition { .. } => {
                RpcError::new(ErrorKind::Conflict, e.to_string())
            }
            StoreError::Unfinished(_) => RpcError::new(ErrorKind::Conflict, e.to_string()),
            StoreError::NotFoundWhat { .. } => RpcError::new(ErrorKind::NotFound, e.to_string()),
            StoreError::AmbiguousWhat { .. } => RpcError::new(ErrorKind::Ambiguous, e.to_string()),
            StoreError::Invalid {
                field,
                message,
                allowed,
            } => RpcError::invalid_params(field.clone(), format!("{field}: {message}"), allowed),
            other => {
                tracing::error!("store error: {other}");
                RpcError::new(ErrorKind::Internal, other.to_string())
            }
        }
    }
}

impl From<EngineError> for RpcError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Invalid(p) if p.field == "target" => RpcError::invalid_params(
                p.field.clone(),
                format!("{}: {}", p.field, p.message),
                p.allowed,
            ),
            EngineError::Invalid(p) => RpcError::invalid_params(
                format!("spec.{}", p.field),
                format!("spec.{}: {}", p.field, p.message),
                p.allowed,
            ),
            EngineError::UnknownProvider { name, known } => RpcError::invalid_params(
                "spec.provider",
                format!("spec.provider: unknown provider {name:?}"),
                Some(known),
            ),
            EngineError::MissingKey { message, env_vars } => RpcError::auth(message, env_vars),
            EngineError::Conflict(msg) => RpcError::new(ErrorKind::Conflict, msg),
            EngineError::Disk(msg) => {
                tracing::error!("outputs directory: {msg}");
                RpcError::new(ErrorKind::Internal, msg)
            }
            EngineError::Store(s) => s.into(),
        }
    }
}
