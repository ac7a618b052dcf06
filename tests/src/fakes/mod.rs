//! In-process fake provider servers speaking the contracts of `reference/providers.md`, with one
//! control API for tests: keys, request log, task scripts, fault injection, expiring outputs.
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
//! Every fake is a [`Fake`] around its provider's state and dereferences to [`Core`], the
//! control they share (`control.rs`); `server.rs` runs it and applies the faults; each provider
//! file holds its routes, its replies and its own controls. Dropping a fake stops its listener.

pub mod catalog;
pub mod comfyui;
pub mod common;
pub mod control;
pub mod dashscope;
pub mod flights;
pub mod lora_sites;
pub mod modelscope;
pub mod openai;
pub mod server;
pub mod tripo;

pub use catalog::{CatalogFake, CatalogSite};
pub use comfyui::{ComfyFake, ComfyState};
pub use common::make_png;
pub use control::{Core, Endpoint, Fault, RecordedRequest, Script, Scripts};
pub use dashscope::{DashScopeFake, DsOutcome, DsScript};
pub use flights::{Flight, Flights};
pub use lora_sites::{CivitaiFake, HuggingFaceFake, LoraSiteFake};
pub use modelscope::{EchoSucceed, IdStyle, ModelScopeFake, MsOutcome, MsScript};
pub use openai::{OaState, OpenAiFake};
pub use server::{Fake, Provider, Scripted, Served};
pub use tripo::{TpOutcome, TpScript, TripoFake};
