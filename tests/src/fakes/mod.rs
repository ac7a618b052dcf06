//! In-process fake provider servers speaking the contracts of `reference/providers.md`, with a
//! control API for tests: request log, task scripts, fault injection, expiring outputs.

pub mod common;
pub mod dashscope;
pub mod modelscope;

pub use common::{Core, Endpoint, Fault, RecordedRequest, make_png};
pub use dashscope::{DashScopeFake, DsOutcome, DsScript};
pub use modelscope::{EchoSucceed, IdStyle, ModelScopeFake, MsOutcome, MsScript};
