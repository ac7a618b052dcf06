//! genq's client side: the protocol client, the CLI commands and the TUI.

pub mod client;
pub mod tui;
