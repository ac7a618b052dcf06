//! Starting and stopping the daemon: lock, logs, store, engine, server, signals.

use genq_protocol::Paths;

/// How to run the daemon.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub paths: Paths,
    /// Also log to stderr (for `genq daemon run` in a terminal).
    pub log_to_stderr: bool,
}

/// Runs the daemon until it is told to stop (`daemon.shutdown`, SIGTERM, SIGINT). Returns
/// an error, naming the running daemon's pid, when another daemon owns this home.
pub fn run(opts: RunOptions) -> anyhow::Result<()> {
    let _ = opts;
    anyhow::bail!("not implemented yet")
}
