//! Keeping up with the daemon's live events: the position in its event stream, and what
//! events left to refetch, gathered until the event loop's debounce flushes them.

use crate::tui::command::Command;
use genq_protocol::JobId;
use std::collections::BTreeSet;

#[derive(Debug, Default)]
pub struct Live {
    /// The `seq` of the last event applied.
    pub last_seq: Option<u64>,
    /// Rows to fetch again.
    pub rows: BTreeSet<JobId>,
    /// The page on screen, to fetch again.
    pub page: bool,
    /// The status (counts by state, quotas), to fetch again.
    pub status: bool,
    /// The open job, to fetch again.
    pub detail: bool,
    /// The batches (and the open batch), to fetch again.
    pub batches: bool,
}

impl Live {
    pub fn has_stale(&self) -> bool {
        !self.rows.is_empty() || self.page || self.status || self.detail || self.batches
    }

    /// Everything shown is to be fetched again (events were lost or replaced).
    pub fn all_stale(&mut self, detail_open: bool) {
        self.page = true;
        self.status = true;
        self.detail = detail_open;
        self.batches = true;
    }

    /// Takes event `seq`: `false` for one at or below the last seen (a duplicate). A gap
    /// means events were lost (the client's buffer overflowed): what is shown is refetched.
    pub fn accept(&mut self, seq: u64, detail_open: bool) -> bool {
        if let Some(last) = self.last_seq {
            if seq <= last {
                return false;
            }
            if seq > last + 1 {
                self.page = true;
                self.detail = detail_open;
            }
        }
        self.last_seq = Some(seq);
        true
    }

    /// The subscription answered with the daemon's head. The first one starts at that head,
    /// and the page and status were asked for beside it, so they may have been read before
    /// events the subscription no longer sends (a job created and finished meanwhile): what
    /// is shown is fetched once more, now that every later change comes as an event. A
    /// daemon behind our position has another history (its database was replaced): start
    /// over from its head, or its events would look like duplicates.
    pub fn subscribed(&mut self, head_seq: u64, detail_open: bool) -> Vec<Command> {
        match self.last_seq {
            None => {
                self.last_seq = Some(head_seq);
                self.all_stale(detail_open);
                Vec::new()
            }
            Some(last) if head_seq < last => {
                self.last_seq = Some(head_seq);
                self.all_stale(detail_open);
                vec![Command::Subscribe {
                    since_seq: Some(head_seq),
                }]
            }
            Some(_) => Vec::new(),
        }
    }
}
