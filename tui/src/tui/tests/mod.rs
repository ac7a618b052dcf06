//! Tests of the TUI without a daemon: snapshots of every screen on a `TestBackend`, and
//! key sequences → actions → state.

mod batches;
mod catalog_fixtures;
mod catalog_snapshots;
mod catalog_state;
mod daily;
mod fixtures;
mod snapshots;
mod state;
