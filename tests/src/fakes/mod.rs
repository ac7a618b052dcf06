//! In-process fake provider servers speaking the contracts of `reference/providers.md`, with a
//! control API for tests: request log, task scripts, fault injection, expiring outputs.
//!
//! ```text
//! let ms = ModelScopeFake::start().await;          // 127.0.0.1:ephemeral, background task
//! ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
//! ms.rate_limit_next(2, Some(1));                  // next two API calls: 429 + headers
//! // point the daemon at ms.base_url() with ms.key() …
//! assert!(ms.wait_for_tasks(1, Duration::from_secs(10)).await);
//! assert!(ms.poll_count(&ms.task_ids()[0]) >= 1);
//! ```
//!
//! Every fake dereferences to [`Core`] for what they share (request log, faults, delay, URL
//! lifetime). Dropping a fake stops its listener.

pub mod catalog;
pub mod common;
pub mod dashscope;
pub mod flights;
pub mod lora_sites;
pub mod modelscope;
pub mod tripo;

pub use catalog::CatalogFake;
pub use common::{Core, Endpoint, Fault, RecordedRequest, make_png};
pub use dashscope::{DashScopeFake, DsOutcome, DsScript};
pub use flights::{Flight, Flights};
pub use lora_sites::{CivitaiFake, HuggingFaceFake, LoraSiteFake};
pub use modelscope::{EchoSucceed, IdStyle, ModelScopeFake, MsOutcome, MsScript};
pub use tripo::{TpOutcome, TpScript, TripoFake};
