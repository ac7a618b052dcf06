//! genq's client side: the protocol client, the CLI commands, the TUI, and what the two
//! share: text formatting and the reading of job inputs.

pub mod cli;
pub mod client;
pub mod format;
pub mod inputs;
pub mod transfer;
pub mod tui;
