//! Moving between screens: Tab / Shift-Tab through all of them, the number keys, the
//! overlays (help, the message log, a LoRA's details), and opening the submit form with a
//! clean form or the user's own draft. Called from [`App::update`] only.

use crate::tui::app::{App, Screen};
use crate::tui::command::Command;
use crate::tui::form::SubmitForm;
use genq_protocol::catalog::LoraCard;

/// The screens Tab visits, in tab-line order.
const CYCLE: [Screen; 5] = [
    Screen::Jobs,
    Screen::Detail,
    Screen::Submit,
    Screen::Models,
    Screen::Loras,
];

/// A LoRA's details shown over the current screen.
#[derive(Clone, Debug, PartialEq)]
pub struct CardPopup {
    pub card: Box<LoraCard>,
    pub scroll: u16,
}

impl App {
    /// Switches screens; the gallery fetches its first page the first time it is shown.
    pub(crate) fn goto(&mut self, screen: Screen) -> Vec<Command> {
        self.lora_popup = None;
        self.screen = screen;
        if screen == Screen::Loras && !self.gallery.started {
            self.gallery.started = true;
            return self.gallery_restart();
        }
        Vec::new()
    }

    /// Tab and Shift-Tab: the next or previous screen, whatever is open. A form keeps its
    /// draft; the detail screen opens the selected job when none is open yet.
    pub(crate) fn cycle_screen(&mut self, forward: bool) -> Vec<Command> {
        let from = match self.screen {
            Screen::Help | Screen::Messages => self.help_for,
            s => s,
        };
        let at = CYCLE.iter().position(|s| *s == from).unwrap_or(0);
        let n = CYCLE.len();
        let mut next = CYCLE[if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        }];
        let no_detail = self.detail.is_none() && self.jobs.selected_job().is_none();
        if next == Screen::Detail && no_detail {
            next = if forward {
                Screen::Submit
            } else {
                Screen::Jobs
            };
        }
        // A search prompt left open would capture keys on return; what it filtered stays.
        self.jobs.search_input = None;
        self.jobs.search_before = None;
        self.gallery.search_input = None;
        if next == Screen::Detail && self.detail.is_none() {
            self.lora_popup = None;
            return self.open_detail();
        }
        self.goto(next)
    }

    /// `n`: the submit form. A re-run left unsent is not the user's draft, so a clean form
    /// replaces it; the user's own draft is restored, and the status bar says so.
    pub(crate) fn open_new_form(&mut self) -> Vec<Command> {
        self.drop_abandoned_rerun();
        if self.form.has_draft() && !self.form.sending {
            self.note("restoring your draft; Ctrl-L clears the form");
        }
        self.goto(Screen::Submit)
    }

    /// Replaces a re-run form nobody sent with a clean one (saying so).
    pub(crate) fn drop_abandoned_rerun(&mut self) {
        if self.form.sending {
            return;
        }
        if let Some(of) = self.form.rerun_of.clone() {
            self.form = SubmitForm::new(self.form.choices.clone());
            self.note(format!(
                "new job; the unsent re-run of {of} was set aside (R on the job opens it again)"
            ));
        }
    }

    /// Help and the message log open over the current screen and return to it.
    pub(crate) fn toggle_overlay(&mut self, overlay: Screen) -> Vec<Command> {
        if self.screen == overlay {
            self.screen = self.help_for;
            return Vec::new();
        }
        if !matches!(self.screen, Screen::Help | Screen::Messages) {
            self.help_for = self.screen;
        }
        self.lora_popup = None;
        self.help_scroll = 0;
        self.messages.scroll = 0;
        self.screen = overlay;
        Vec::new()
    }

    /// Enter on a LoRA card, or on one of the open job's LoRAs: its details.
    pub(crate) fn open_lora_card(&mut self) -> Vec<Command> {
        let card = match self.screen {
            Screen::Loras => self.gallery.selected_card().cloned(),
            _ => match self.detail_lora_repo().map(str::to_string) {
                None => {
                    self.note("this job used no LoRA");
                    return Vec::new();
                }
                Some(repo) => match self.lora_cards.get(&repo) {
                    Some(crate::tui::app::LoraLookup::Found(card)) => Some((**card).clone()),
                    Some(crate::tui::app::LoraLookup::Failed(e)) => {
                        let e = e.clone();
                        self.fail(format!("the card of {repo} is unavailable: {e}"));
                        return Vec::new();
                    }
                    _ => {
                        self.note(format!("loading the card of {repo}…"));
                        return Vec::new();
                    }
                },
            },
        };
        if let Some(card) = card {
            self.lora_popup = Some(CardPopup {
                card: Box::new(card),
                scroll: 0,
            });
        }
        Vec::new()
    }

    /// Esc: closes what is open (a popup, a search prompt, an overlay), clears a search,
    /// or goes back to the jobs screen.
    pub(crate) fn back(&mut self) -> Vec<Command> {
        if self.lora_popup.take().is_some() {
            return Vec::new();
        }
        match self.screen {
            Screen::Jobs if self.jobs.search_input.is_some() => {
                self.jobs.search_input = None;
                if let Some(before) = self.jobs.search_before.take()
                    && before != self.jobs.search
                {
                    self.jobs.search = before;
                    return self.reset_list();
                }
            }
            Screen::Loras if self.gallery.search_input.is_some() => {
                self.gallery.search_input = None
            }
            Screen::Loras if !self.gallery.keyword.is_empty() => {
                self.gallery.keyword.clear();
                return self.gallery_restart();
            }
            Screen::Help | Screen::Messages => self.screen = self.help_for,
            Screen::Jobs if !self.jobs.search.is_empty() => {
                self.jobs.search.clear();
                return self.reset_list();
            }
            Screen::Jobs => {}
            Screen::Detail | Screen::Submit | Screen::Models | Screen::Loras => {
                self.screen = Screen::Jobs
            }
        }
        Vec::new()
    }
}
