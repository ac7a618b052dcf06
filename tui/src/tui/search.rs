//! The `/` prompts: the jobs list follows the search as it is typed (Esc puts back the
//! search from before the prompt); the LoRA search goes to a remote site, so Enter sends it.
//! Called from [`App::update`] only.

use crate::tui::action::UiAction;
use crate::tui::app::{App, Screen};
use crate::tui::command::Command;

impl App {
    /// The search being typed on this screen, while its `/` prompt is open.
    pub fn search_input(&self) -> Option<&String> {
        match self.screen {
            Screen::Jobs => self.jobs.search_input.as_ref(),
            Screen::Loras => self.gallery.search_input.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn search_input_mut(&mut self) -> Option<&mut String> {
        match self.screen {
            Screen::Jobs => self.jobs.search_input.as_mut(),
            Screen::Loras => self.gallery.search_input.as_mut(),
            _ => None,
        }
    }

    pub(crate) fn search_action(&mut self, ui: UiAction) -> Vec<Command> {
        match (ui, self.screen) {
            (UiAction::Search, Screen::Loras) => {
                self.gallery.search_input = Some(self.gallery.keyword.clone());
                Vec::new()
            }
            (UiAction::Search, _) => {
                self.jobs.search_input = Some(self.jobs.search.clone());
                self.jobs.search_before = Some(self.jobs.search.clone());
                Vec::new()
            }
            (_, Screen::Loras) => {
                if let Some(text) = self.gallery.search_input.take() {
                    self.gallery.keyword = text.trim().to_string();
                    return self.gallery_restart();
                }
                Vec::new()
            }
            _ => {
                // The search was applied as it was typed; Enter only closes the prompt.
                self.jobs.search_input = None;
                self.jobs.search_before = None;
                Vec::new()
            }
        }
    }

    /// The jobs list follows the search as it is typed; the LoRA search (a remote site) is
    /// sent with Enter.
    pub(crate) fn search_typed(&mut self) -> Vec<Command> {
        if self.screen != Screen::Jobs {
            return Vec::new();
        }
        let text = self.jobs.search_input.as_deref().unwrap_or("").trim();
        if text == self.jobs.search {
            return Vec::new();
        }
        self.jobs.search = text.to_string();
        self.reset_list()
    }
}
