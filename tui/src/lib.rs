//! genq's client side: the protocol client, the CLI commands, the TUI and the text
//! formatting the two share.

pub mod cli;
pub mod client;
pub mod format;
pub mod tui;
