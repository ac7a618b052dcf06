//! Batches: many jobs from one file (JSON Lines, CSV, TOML), a matrix or the watched inbox
//! folder. `format` reads the files, `expand` turns rows into job specs (defaults, styles,
//! matrix, output templates), `plan` checks them through the engine, `service` creates the
//! batch and sends its rows as ordinary jobs, `follow` copies finished outputs and writes the
//! `manifest`, `inbox` watches the folder.

mod csv;
mod expand;
mod follow;
mod format;
mod inbox;
mod manifest;
mod plan;
mod service;
mod template;

pub use inbox::{inbox_dir, watch as watch_inbox};
pub use plan::BadRequest;
pub use service::{BatchError, Batches, Origin};
