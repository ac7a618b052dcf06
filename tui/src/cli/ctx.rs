//! What every command is given: where the daemon lives, whether it may be started, the
//! local time zone and the colour choice; the way back to a remote daemon after the
//! connection dropped; and the one way commands print JSON.

use super::color::{ColorMode, Palette};
use super::error::CliError;
use crate::client::{Client, ClientError, Endpoint};
use crate::format::Clock;
use genq_protocol::rpc::Notification;
use genq_protocol::{Method, Paths, Timestamp};
use std::io::IsTerminal;
use std::time::Duration;
use time::UtcOffset;
use tokio::sync::mpsc;

/// The first wait before connecting again to a remote daemon; it doubles up to the next.
const RECONNECT_FIRST: Duration = Duration::from_millis(250);
const RECONNECT_MAX: Duration = Duration::from_secs(5);
/// How long a command keeps trying before it reports the lost connection.
const RECONNECT_FOR: Duration = Duration::from_secs(60);

/// What every command needs: where the daemon lives and whether it may be started.
pub struct Ctx {
    /// This machine's layout: its config, credentials and cache (and its daemon's socket).
    pub paths: Paths,
    /// The daemon commands talk to: this machine's, or another's through `--host`.
    pub endpoint: Endpoint,
    pub autostart: bool,
    /// The local time zone, read before any thread starts (it cannot be read safely after).
    pub offset: UtcOffset,
    pub color: ColorMode,
}

impl Ctx {
    /// Connects to the daemon, starting it unless autostart is off.
    pub async fn connect(&self) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        self.endpoint.connect("genq-cli", self.autostart).await
    }

    /// After the connection dropped: a remote daemon is dialled again with backoff (never
    /// started: one that was stopped on purpose stays stopped), saying so on stderr. A local
    /// daemon that went away has stopped, so the loss is the error.
    pub async fn reconnect(&self) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        let Some(host) = self.endpoint.remote() else {
            return Err(ClientError::Disconnected);
        };
        let started = tokio::time::Instant::now();
        let mut delay = RECONNECT_FIRST;
        for attempt in 1.. {
            eprintln!(
                "genq: the connection to {} was lost; connecting again in {} ms (attempt {attempt})",
                host.name(),
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
            match self.endpoint.connect("genq-cli", false).await {
                Ok(connected) => {
                    eprintln!("genq: connected to {} again", host.name());
                    return Ok(connected);
                }
                Err(e) if started.elapsed() > RECONNECT_FOR || !transient(&e) => return Err(e),
                Err(_) => {}
            }
            delay = (delay * 2).min(RECONNECT_MAX);
        }
        Err(ClientError::Disconnected)
    }

    /// Connects and makes one call, for commands that need nothing else from the daemon.
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, CliError> {
        let (client, _notes) = self.connect().await?;
        Ok(client.call::<M>(params).await?)
    }

    /// How stdout is coloured for this command.
    pub fn palette(&self) -> Palette {
        Palette::for_stdout(self.color)
    }

    pub fn clock(&self) -> Clock {
        Clock {
            now: Timestamp::now(),
            offset: self.offset,
        }
    }
}

/// Whether connecting again may help: the network or the relay, not a refusal.
fn transient(e: &ClientError) -> bool {
    use crate::client::SshError;
    matches!(
        e,
        ClientError::Disconnected
            | ClientError::Ssh(SshError::Unreachable { .. } | SshError::Failed { .. })
    )
}

/// The bare `--json` of commands that print either text or the daemon's answer as JSON.
#[derive(Debug, clap::Args)]
pub struct JsonArg {
    #[arg(long)]
    pub json: bool,
}

/// JSON on stdout: pretty on a terminal, for reading; one line when piped, for programs.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = if std::io::stdout().is_terminal() {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| CliError::Failed(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
