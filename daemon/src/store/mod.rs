//! The SQLite store: the only place with SQL. One connection on its own thread is the one
//! writer; async code sends it closures and awaits their results, so the runtime never
//! blocks on the disk. Every job change and the event announcing it are written in one
//! transaction, committed before anyone is told.
//!
//! The store thread also announces events: right after a write commits, on the same thread,
//! so the event bus carries them in the order of their `seq`, whatever the load.

mod appended;
mod batches;
mod catalog;
mod catalog_rows;
mod catalog_seed;
mod catalog_snapshot;
mod catalog_state;
mod db;
mod error;
mod events;
mod ids;
mod jobs;
mod listing;
mod lora_cache;
mod migrations;
mod probe;
mod read_ahead;
mod removal;
mod rows;
mod sql;
#[cfg(test)]
mod tests;
mod tokens;
mod transition;
mod wire;

pub use batches::{BatchCreated, NewBatch, NewBatchRow, PendingRow, RowOutput};
pub use catalog_seed::{CapabilitySeed, CatalogSeed};
pub use catalog_state::SupplierRules;
pub use db::{Store, StoreThread};
pub use error::StoreError;
pub use jobs::{Created, NewJob, OutputFile};
pub use lora_cache::CachedLoras;
pub use removal::{CleanFilter, Removal};
pub use rows::OutputRecord;
pub use tokens::{TOKEN_PREFIX, hash_token, new_token};
pub use transition::Transition;
pub use wire::WirePage;
