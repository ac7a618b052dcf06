//! The message log: every status-bar message (information and errors) with its time, so a
//! message cut short by the status bar can be read in full (`M`). Errors raised while the
//! daemon is unreachable are about that, and are cleared when the connection is back.

use crate::tui::app::{App, Connection};
use genq_protocol::Timestamp;
use std::collections::VecDeque;

/// Messages kept; older ones are dropped.
pub const LOG_CAP: usize = 200;

#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub at: Timestamp,
    pub error: bool,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct MessageLog {
    pub entries: VecDeque<Message>,
    /// Lines scrolled up from the newest.
    pub scroll: u16,
}

impl MessageLog {
    /// Adds a message; the same message again only updates the time of the last one.
    fn push(&mut self, at: Timestamp, error: bool, text: String) {
        if let Some(last) = self.entries.back_mut()
            && last.text == text
            && last.error == error
        {
            last.at = at;
            return;
        }
        if self.entries.len() >= LOG_CAP {
            self.entries.pop_front();
        }
        self.entries.push_back(Message { at, error, text });
    }
}

impl App {
    /// A message for the status bar (until the next key) and the log.
    pub(crate) fn note(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.messages.push(self.now, false, text.clone());
        self.info = Some(text);
    }

    /// An error for the status bar (until replaced) and the log. One raised while the
    /// daemon is unreachable is taken as caused by that and cleared on reconnect.
    pub(crate) fn fail(&mut self, text: impl Into<String>) {
        let text = text.into();
        self.messages.push(self.now, true, text.clone());
        self.last_error = Some(text);
        self.error_offline = matches!(self.conn, Connection::Reconnecting { .. });
    }

    /// The connection came back: errors about its loss no longer hold.
    pub(crate) fn clear_offline_errors(&mut self) {
        if std::mem::take(&mut self.error_offline) {
            self.last_error = None;
        }
    }
}
