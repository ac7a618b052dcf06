//! What every screen is given: the terminal size and clock, the keymap, the connection,
//! what the daemon said about jobs and providers, and the status line a screen may write
//! a message to. Screens read this instead of the whole app.

use crate::tui::keymap::Keymap;
use crate::tui::message_log::MessageLog;
use genq_protocol::Timestamp;
use std::collections::BTreeMap;
use throbber_widgets_tui::ThrobberState;

/// Rows taken by the tab line, the hint line and the status bar.
pub const CHROME_ROWS: u16 = 3;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Connected { version: String },
    Reconnecting { attempt: u32, delay_ms: u64 },
}

/// A provider's remaining quota or balance, as `providers.list` last reported it.
#[derive(Clone, Debug, PartialEq)]
pub struct Quota {
    pub provider: String,
    pub remaining: Option<i64>,
    pub detail: Option<String>,
}

pub struct Shared {
    pub size: (u16, u16),
    /// The clock used for elapsed times; set by the event loop, fixed in tests.
    pub now: Timestamp,
    pub keymap: Keymap,
    pub conn: Connection,
    /// Jobs by state, from `daemon.status`.
    pub counts: BTreeMap<String, u64>,
    /// Remaining quota by provider, for the providers that report one.
    pub quotas: Vec<Quota>,
    /// Whether each provider has a key, by name, once `providers.list` answered.
    pub provider_keys: Option<BTreeMap<String, bool>>,
    pub info: Option<String>,
    pub last_error: Option<String>,
    /// Set when `last_error` was raised while the daemon was unreachable.
    pub error_offline: bool,
    /// Every message the status bar showed, for `M`.
    pub messages: MessageLog,
    /// Whether the terminal can show images.
    pub previews: bool,
    pub spinner: ThrobberState,
}

impl Shared {
    pub fn new(size: (u16, u16), now: Timestamp) -> Shared {
        Shared {
            size,
            now,
            keymap: Keymap::default(),
            conn: Connection::Connecting,
            counts: BTreeMap::new(),
            quotas: Vec::new(),
            provider_keys: None,
            info: None,
            last_error: None,
            error_offline: false,
            messages: MessageLog::default(),
            previews: false,
            spinner: ThrobberState::default(),
        }
    }

    /// A message for the status bar (until the next key) and the log.
    pub fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.messages.push(self.now, false, text.clone());
        self.info = Some(text);
    }

    /// An error for the status bar (until replaced) and the log. One raised while the
    /// daemon is unreachable is taken as caused by that and cleared on reconnect.
    pub fn fail(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.messages.push(self.now, true, text.clone());
        self.last_error = Some(text);
        self.error_offline = matches!(self.conn, Connection::Reconnecting { .. });
    }

    /// The connection came back: errors about its loss no longer hold.
    pub fn clear_offline_errors(&mut self) {
        if std::mem::take(&mut self.error_offline) {
            self.last_error = None;
        }
    }
}
