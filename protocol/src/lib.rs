//! What the genq daemon and its clients must agree on, and nothing else: the JSON-RPC
//! envelope, the typed methods, jobs and their states, events, error codes, the NDJSON
//! framing and where the socket and the other files live.
//!
//! No runtime, no HTTP, no SQL: both sides depend on this crate, so it stays small.

pub mod batch;
pub mod catalog;
pub mod codec;
pub mod credentials;
pub mod daemon_record;
pub mod error;
pub mod event;
pub mod files;
pub mod job;
pub mod methods;
pub mod outputs;
pub mod paths;
pub mod process;
pub mod rpc;
pub mod time;
mod wire_names;

pub use codec::{FrameError, NdjsonCodec};
pub use credentials::Credentials;
pub use error::{ErrorData, ErrorKind, RpcError};
pub use event::{Event, EventBody};
pub use job::{
    Job, JobError, JobErrorKind, JobId, JobKind, JobSpec, JobState, Lora, Output, ProviderRequest,
    Size, Upload,
};
pub use methods::Method;
pub use paths::Paths;
pub use time::Timestamp;

/// Version of the wire protocol. Changes are additive; the number moves only when a client
/// built against an older one could misunderstand the daemon.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame (one JSON line) the daemon accepts. A longer line gets an error reply and the
/// connection is closed.
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Largest frame a client accepts: replies (a page of jobs with their outputs) can be bigger
/// than requests ever need to be.
pub const MAX_CLIENT_FRAME_BYTES: usize = 64 * 1024 * 1024;
