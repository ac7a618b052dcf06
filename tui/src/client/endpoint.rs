//! Where the daemon is: this machine's socket, or another machine's daemon through ssh.
//! Commands and the TUI connect through an endpoint and need not know which.

use super::ssh::SshHost;
use super::{Client, ClientError};
use genq_protocol::Paths;
use genq_protocol::rpc::Notification;
use std::sync::Arc;
use tokio::sync::mpsc;

#[derive(Clone, Debug)]
pub enum Endpoint {
    Local(Arc<Paths>),
    Ssh(SshHost),
}

impl Endpoint {
    /// Connects and says hello, starting the daemon first when it is not running and
    /// `autostart` allows (on a remote host, `dial-stdio` starts it there).
    pub async fn connect(
        &self,
        client_name: &str,
        autostart: bool,
    ) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        match self {
            Endpoint::Local(paths) => Client::connect_or_start(paths, client_name, autostart).await,
            Endpoint::Ssh(host) => host.connect(client_name, autostart).await,
        }
    }

    /// The remote host, when the daemon is on another machine.
    pub fn remote(&self) -> Option<&SshHost> {
        match self {
            Endpoint::Local(_) => None,
            Endpoint::Ssh(host) => Some(host),
        }
    }
}
