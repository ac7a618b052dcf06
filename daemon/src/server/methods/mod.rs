//! Request handlers, one file per group of methods. Parameters are parsed into the
//! protocol's types here, so a wrong field is reported with its path.

mod catalog;
mod daemon;
mod jobs;
mod providers;

use super::ServerState;
use crate::engine::EngineError;
use crate::store::StoreError;
use genq_protocol::methods::{self as m, Method};
use genq_protocol::{ErrorKind, RpcError};
use serde_json::Value;
use std::sync::Arc;

/// Parses a method's parameters, naming the offending field on failure.
pub fn params<M: Method>(raw: Option<Value>) -> Result<M::Params, RpcError> {
    let raw = match raw {
        None | Some(Value::Null) => Value::Object(Default::default()),
        Some(v) => v,
    };
    serde_path_to_error::deserialize(raw).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner().to_string();
        RpcError::invalid_params(
            field.clone(),
            format!(
                "invalid parameters for {}: {}{inner}",
                M::NAME,
                if field.is_empty() {
                    String::new()
                } else {
                    format!("{field}: ")
                }
            ),
            None,
        )
    })
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))
}

/// Runs one request (other than `hello` and `subscribe`, which the session handles).
pub async fn dispatch(
    state: &Arc<ServerState>,
    method: &str,
    raw: Option<Value>,
) -> Result<Value, RpcError> {
    match method {
        m::Submit::NAME => to_value(jobs::submit(state, params::<m::Submit>(raw)?).await?),
        m::JobsList::NAME => to_value(jobs::list(state, params::<m::JobsList>(raw)?).await?),
        m::JobsGet::NAME => to_value(jobs::get(state, params::<m::JobsGet>(raw)?).await?),
        m::JobsCancel::NAME => to_value(jobs::cancel(state, params::<m::JobsCancel>(raw)?).await?),
        m::JobsRetry::NAME => to_value(jobs::retry(state, params::<m::JobsRetry>(raw)?).await?),
        m::JobsExport::NAME => to_value(jobs::export(state, params::<m::JobsExport>(raw)?).await?),
        m::JobsEvents::NAME => to_value(jobs::events(state, params::<m::JobsEvents>(raw)?).await?),
        m::JobsUpload::NAME => to_value(jobs::upload(state, params::<m::JobsUpload>(raw)?).await?),
        m::JobsRemove::NAME => to_value(jobs::remove(state, params::<m::JobsRemove>(raw)?).await?),
        m::JobsClean::NAME => to_value(jobs::clean(state, params::<m::JobsClean>(raw)?).await?),
        m::OutputsUsage::NAME => {
            params::<m::OutputsUsage>(raw)?;
            to_value(jobs::usage(state).await?)
        }
        m::ProvidersList::NAME => {
            params::<m::ProvidersList>(raw)?;
            to_value(providers::list(state).await?)
        }
        m::DaemonStatus::NAME => {
            params::<m::DaemonStatus>(raw)?;
            to_value(daemon::status(state).await?)
        }
        m::DaemonShutdown::NAME => {
            params::<m::DaemonShutdown>(raw)?;
            to_value(daemon::shutdown(state))
        }
        m::ConfigReload::NAME => {
            params::<m::ConfigReload>(raw)?;
            to_value(daemon::reload(state).await)
        }
        m::ModelsList::NAME => to_value(catalog::list(state, params::<m::ModelsList>(raw)?).await?),
        m::ModelsGet::NAME => to_value(catalog::get(state, params::<m::ModelsGet>(raw)?).await?),
        m::ModelsAdd::NAME => to_value(catalog::add(state, params::<m::ModelsAdd>(raw)?).await?),
        m::ModelsEdit::NAME => to_value(catalog::edit(state, params::<m::ModelsEdit>(raw)?).await?),
        m::ModelsRemove::NAME => {
            to_value(catalog::remove(state, params::<m::ModelsRemove>(raw)?).await?)
        }
        m::ModelsRestore::NAME => {
            to_value(catalog::restore(state, params::<m::ModelsRestore>(raw)?).await?)
        }
        m::ModelsSetDefault::NAME => {
            to_value(catalog::set_default(state, params::<m::ModelsSetDefault>(raw)?).await?)
        }
        m::SuppliersList::NAME => {
            params::<m::SuppliersList>(raw)?;
            to_value(catalog::suppliers(state).await?)
        }
        m::CategoriesList::NAME => {
            params::<m::CategoriesList>(raw)?;
            to_value(catalog::categories(state).await?)
        }
        m::CapabilitiesList::NAME => {
            params::<m::CapabilitiesList>(raw)?;
            to_value(catalog::capabilities(state).await?)
        }
        m::LorasList::NAME => {
            to_value(catalog::loras_list(state, params::<m::LorasList>(raw)?).await?)
        }
        m::LorasRefresh::NAME => {
            let mut p = params::<m::LorasRefresh>(raw)?;
            p.force_refresh = true;
            to_value(catalog::loras_list(state, p).await?)
        }
        m::LorasGet::NAME => {
            to_value(catalog::loras_get(state, params::<m::LorasGet>(raw)?).await?)
        }
        other => Err(RpcError::new(
            ErrorKind::MethodNotFound,
            format!(
                "unknown method {other:?}; known: {}",
                known_methods().join(", ")
            ),
        )),
    }
}

pub fn known_methods() -> Vec<&'static str> {
    vec![
        m::Hello::NAME,
        m::Submit::NAME,
        m::JobsList::NAME,
        m::JobsGet::NAME,
        m::JobsCancel::NAME,
        m::JobsRetry::NAME,
        m::JobsExport::NAME,
        m::JobsEvents::NAME,
        m::JobsUpload::NAME,
        m::JobsRemove::NAME,
        m::JobsClean::NAME,
        m::OutputsUsage::NAME,
        m::Subscribe::NAME,
        m::ProvidersList::NAME,
        m::DaemonStatus::NAME,
        m::DaemonShutdown::NAME,
        m::ConfigReload::NAME,
        m::ModelsList::NAME,
        m::ModelsGet::NAME,
        m::ModelsAdd::NAME,
        m::ModelsEdit::NAME,
        m::ModelsRemove::NAME,
        m::ModelsRestore::NAME,
        m::ModelsSetDefault::NAME,
        m::SuppliersList::NAME,
        m::CategoriesList::NAME,
        m::CapabilitiesList::NAME,
        m::LorasList::NAME,
        m::LorasRefresh::NAME,
        m::LorasGet::NAME,
    ]
}

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
