//! The message log: every status-bar message (information and errors) with its time, so a
//! message cut short by the status bar can be read in full (`M`).

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
}

impl MessageLog {
    /// Adds a message; the same message again only updates the time of the last one.
    pub fn push(&mut self, at: Timestamp, error: bool, text: String) {
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
