//! The terminal UI. A placeholder until the TUI lands: it says so and exits.

use genq_protocol::Paths;

/// Opens the TUI against the daemon at `paths`, starting it when `autostart` allows.
pub async fn run(paths: Paths, autostart: bool) -> anyhow::Result<()> {
    let _ = (paths, autostart);
    println!("genq: the terminal UI is not available yet; see `genq --help` for the commands");
    Ok(())
}
