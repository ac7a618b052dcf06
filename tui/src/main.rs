//! `genq`: the TUI and the CLI.

fn main() {}
