//! The method table: which handler answers which method.

use super::super::state::ServerState;
use super::params::params;
use super::{batches, catalog, daemon, jobs, outputs, providers, tokens};
use genq_protocol::methods::{self as m, JobPage, Method};
use genq_protocol::{ErrorKind, RpcError};
use serde_json::Value;
use serde_json::value::RawValue;
use std::future::Future;
use std::sync::Arc;

/// A result as the JSON text of the reply, written straight from its type: a page of 500
/// jobs never becomes a tree of values first.
pub fn to_json<T: serde::Serialize>(v: &T) -> Result<Box<RawValue>, RpcError> {
    serde_json::value::to_raw_value(v)
        .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))
}

/// A type whose JSON is that of the method result `T`: `T` itself, or a page of jobs held
/// as their JSON text.
pub trait WireOf<T>: serde::Serialize {}

impl<T: serde::Serialize> WireOf<T> for T {}
impl WireOf<JobPage> for JobPage<Box<RawValue>> {}

/// Runs a handler on the parameters parsed for its method.
async fn call<'a, M, F, Fut, R>(
    state: &'a Arc<ServerState>,
    raw: Option<Value>,
    handler: F,
) -> Result<Box<RawValue>, RpcError>
where
    M: Method,
    F: FnOnce(&'a Arc<ServerState>, M::Params) -> Fut,
    Fut: Future<Output = Result<R, RpcError>>,
    R: WireOf<M::Result>,
{
    to_json(&handler(state, params::<M>(raw)?).await?)
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
        ) -> Result<Box<RawValue>, RpcError> {
            $($(
                if method == m::$method::NAME {
                    return call::<m::$method, _, _, _>(state, raw, $handler).await;
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
    OutputsRead => outputs::read,
    OutputsPreview => outputs::preview,
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
    BatchSubmit => batches::submit,
    BatchList => batches::list,
    BatchGet => batches::get,
    BatchCancel => batches::cancel,
    BatchRetry => batches::retry,
    TokensCreate => tokens::create,
    TokensList => tokens::list,
    TokensRemove => tokens::remove,
}
