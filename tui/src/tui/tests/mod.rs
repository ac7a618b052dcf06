//! Tests of the TUI without a daemon: snapshots of every screen on a `TestBackend`, and
//! key sequences → actions → state.

mod fixtures;
mod snapshots;
mod state;
