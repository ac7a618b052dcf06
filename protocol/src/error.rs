//! Protocol errors: JSON-RPC codes plus a stable `data.kind` a client can branch on, and
//! the field a bad parameter was found in.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The stable error kinds of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The line was not JSON (or not UTF-8).
    ParseError,
    /// JSON, but not a JSON-RPC 2.0 request.
    InvalidRequest,
    /// The line was longer than the frame limit; the connection is closed after the reply.
    FrameTooLarge,
    MethodNotFound,
    /// A parameter is missing or wrong; `field` names it.
    InvalidParams,
    /// The first request on a connection must be `hello`.
    HelloRequired,
    /// Client and daemon speak different protocol versions.
    VersionMismatch,
    /// No job (or other object) with that id.
    NotFound,
    /// The id prefix matches several jobs.
    Ambiguous,
    /// The request does not fit the object's current state (cancel a finished job, …).
    Conflict,
    /// The daemon is shutting down.
    ShuttingDown,
    /// An outside service the request needed (a catalog site) could not be reached.
    Network,
    /// An outside service the request needed did not answer in time; retrying may help.
    Timeout,
    /// An outside service refused genq's credentials; the message says where to set them.
    Auth,
    /// The daemon has as many connections open as it allows; try again when others closed.
    Busy,
    Internal,
    #[serde(other)]
    Other,
}

impl ErrorKind {
    /// The JSON-RPC code for this kind.
    pub fn code(self) -> i64 {
        match self {
            ErrorKind::ParseError => -32700,
            ErrorKind::InvalidRequest | ErrorKind::FrameTooLarge => -32600,
            ErrorKind::MethodNotFound => -32601,
            ErrorKind::InvalidParams => -32602,
            ErrorKind::Internal | ErrorKind::Other => -32603,
            ErrorKind::HelloRequired => -32002,
            ErrorKind::VersionMismatch => -32003,
            ErrorKind::NotFound => -32004,
            ErrorKind::Ambiguous => -32005,
            ErrorKind::Conflict => -32009,
            ErrorKind::ShuttingDown => -32010,
            ErrorKind::Network => -32011,
            ErrorKind::Timeout => -32012,
            ErrorKind::Auth => -32013,
            ErrorKind::Busy => -32014,
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ErrorData {
    pub kind: ErrorKind,
    /// For `invalid_params`: the path of the offending field, e.g. `spec.loras[2].weight`.
    pub field: Option<String>,
    /// For `invalid_params`: what would have been accepted.
    pub allowed: Option<String>,
    /// For `auth`: the environment variables the daemon looked in for the key, so a client
    /// can say when one is set in its own environment but not in the daemon's.
    /// Boxed: errors travel in `Result`s, which stay small.
    pub env_vars: Option<Box<Vec<String>>>,
}

/// A JSON-RPC error object.
#[serde_with::skip_serializing_none]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RpcError {
    pub code: i64,
    pub message: String,
    pub data: Option<ErrorData>,
}

impl RpcError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        RpcError {
            code: kind.code(),
            message: message.into(),
            data: Some(ErrorData {
                kind,
                field: None,
                allowed: None,
                env_vars: None,
            }),
        }
    }

    /// A bad parameter, naming the field and, when known, what is allowed.
    pub fn invalid_params(
        field: impl Into<String>,
        message: impl Into<String>,
        allowed: Option<String>,
    ) -> Self {
        let field = field.into();
        let message = message.into();
        let message = if message.contains(&field) || field.is_empty() {
            message
        } else {
            format!("{field}: {message}")
        };
        RpcError {
            code: ErrorKind::InvalidParams.code(),
            message,
            data: Some(ErrorData {
                kind: ErrorKind::InvalidParams,
                field: Some(field),
                allowed,
                env_vars: None,
            }),
        }
    }

    /// A request that needs a key the daemon does not have; `env_vars` are the variables
    /// it looked in.
    pub fn auth(message: impl Into<String>, env_vars: Vec<String>) -> Self {
        let mut e = RpcError::new(ErrorKind::Auth, message);
        if let Some(data) = e.data.as_mut() {
            data.env_vars = (!env_vars.is_empty()).then(|| Box::new(env_vars));
        }
        e
    }

    pub fn kind(&self) -> ErrorKind {
        self.data.as_ref().map_or(ErrorKind::Other, |d| d.kind)
    }

    /// For `auth`: the environment variables the daemon looked in.
    pub fn env_vars(&self) -> &[String] {
        self.data
            .as_ref()
            .and_then(|d| d.env_vars.as_deref())
            .map_or(&[], Vec::as_slice)
    }

    pub fn field(&self) -> Option<&str> {
        self.data.as_ref().and_then(|d| d.field.as_deref())
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(allowed) = self.data.as_ref().and_then(|d| d.allowed.as_deref()) {
            write!(f, " (allowed: {allowed})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}
