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
use std::future::Future;
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

/// Refuses a number the database cannot hold (it keeps them as signed 64-bit integers).
pub fn check_i64(field: &str, value: Option<u64>) -> Result<(), RpcError> {
    match value {
        Some(v) if i64::try_from(v).is_err() => Err(RpcError::invalid_params(
            field,
            format!("{field}: {v} is out of range"),
            Some(format!("0 to {}", i64::MAX)),
        )),
        _ => Ok(()),
    }
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value, RpcError> {
    serde_json::to_value(v).map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))
}

/// Runs a handler on the parameters parsed for its method.
async fn call<'a, M, F, Fut>(
    state: &'a Arc<ServerState>,
    raw: Option<Value>,
    handler: F,
) -> Result<Value, RpcError>
where
    M: Method,
    F: FnOnce(&'a Arc<ServerState>, M::Params) -> Fut,
    Fut: Future<Output = Result<M::Result, RpcError>>,
{
    to_value(handler(state, params::<M>(raw)?).await?)
}

/// The method table: every method once, in the order the unknown-method message lists
/// them, with its handler. Methods without one (`hello`, `subscribe`) are answered by the
/// session, which owns the connection.
macro_rules! method_table {
    ($($method:ident $(=> $handler:path)?,)*) => {
        /// Every method the daemon answers.
        pub const KNOWN_METHODS: &[&str] = &[$(m::$method::NAME),*];

        /// Runs one request (other than those the session answers).
        pub async fn dispatch(
            state: &Arc<ServerState>,
            method: &str,
            raw: Option<Value>,
        ) -> Result<Value, RpcError> {
            $($(
                if method == m::$method::NAME {
                    return call::<m::$method, _, _>(state, raw, $handler).await;
                }
            )?)*
            Err(RpcError::new(
                ErrorKind::MethodNotFound,
                format!("unknown method {method:?}; known: {}", KNOWN_METHODS.join(", ")),
            ))
        }
    };
}

method_table! {
    Hello,
    Submit => jobs::submit,
    JobsList => jobs::list,
    JobsGet => jobs::get,
    JobsCancel => jobs::cancel,
    JobsRetry => jobs::retry,
    JobsExport => jobs::export,
    JobsEvents => jobs::events,
    JobsUpload => jobs::upload,
    JobsRemove => jobs::remove,
    JobsClean => jobs::clean,
    OutputsUsage => jobs::usage,
    Subscribe,
    ProvidersList => providers::list,
    DaemonStatus => daemon::status,
    DaemonShutdown => daemon::shutdown,
    ConfigReload => daemon::reload,
    ModelsList => catalog::list,
    ModelsGet => catalog::get,
    ModelsAdd => catalog::add,
    ModelsEdit => catalog::edit,
    ModelsRemove => catalog::remove,
    ModelsRestore => catalog::restore,
    ModelsSetDefault => catalog::set_default,
    SuppliersList => catalog::suppliers,
    CategoriesList => catalog::categories,
    CapabilitiesList => catalog::capabilities,
    LorasList => catalog::loras_list,
    LorasRefresh => catalog::loras_refresh,
    LorasGet => catalog::loras_get,
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
