//! What every command is given: where the daemon lives, whether it may be started, the
//! local time zone and the colour choice; and the one way commands print JSON.

use super::color::{ColorMode, Palette};
use super::error::CliError;
use crate::client::{Client, ClientError};
use crate::format::Clock;
use genq_protocol::rpc::Notification;
use genq_protocol::{Method, Paths, Timestamp};
use time::UtcOffset;
use tokio::sync::mpsc;

/// What every command needs: where the daemon lives and whether it may be started.
pub struct Ctx {
    pub paths: Paths,
    pub autostart: bool,
    /// The local time zone, read before any thread starts (it cannot be read safely after).
    pub offset: UtcOffset,
    pub color: ColorMode,
}

impl Ctx {
    /// Connects to the daemon, starting it unless autostart is off.
    pub async fn connect(&self) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        Client::connect_or_start(&self.paths, "genq-cli", self.autostart).await
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

/// Pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), CliError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| CliError::Failed(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}
