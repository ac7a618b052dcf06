//! Keys on the jobs screen while it is grouped by batch: motion, Enter and Esc move
//! between the batches and a batch's rows; cancel and retry act on the batch.

use super::state::App;
use crate::tui::action::UiAction;
use crate::tui::command::Command;
use crate::tui::keymap::Context;

impl App {
    /// A key for the batches, or `None` when it is not theirs (the screen is not grouped, a
    /// dialog is open, or the key means the same everywhere).
    pub(super) fn batch_ui(&mut self, ui: UiAction) -> Option<Vec<Command>> {
        use UiAction as A;
        if self.context() != Context::Batches {
            return None;
        }
        let shared = &mut self.shared;
        Some(match ui {
            A::Up | A::Down | A::Top | A::Bottom | A::PageUp | A::PageDown => {
                self.batches.motion(ui, shared);
                Vec::new()
            }
            A::Open => self.batches.open_selected(),
            A::Back if self.batches.close() => Vec::new(),
            A::Refresh => {
                let mut cmds = self.batches.refetch();
                cmds.push(Command::FetchStatus);
                cmds
            }
            A::Cancel | A::Retry => {
                let (confirm, cmds) = self.batches.action(ui, shared);
                self.confirm = confirm;
                cmds
            }
            _ => return None,
        })
    }
}
