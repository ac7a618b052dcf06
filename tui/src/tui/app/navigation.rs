//! Moving between screens and what crosses them: Tab and the number keys, the overlays
//! (help, the message log, a LoRA's card), Esc, clicks, opening a job, a job's LoRA in
//! the gallery, LoRAs into a new job, and the keys that act on a job.

use super::state::App;
use crate::tui::action::{Action, UiAction};
use crate::tui::command::Command;
use crate::tui::screens::confirm::Confirm;
use crate::tui::screens::detail::LoraLookup;
use crate::tui::screens::lora_card::CardPopup;
use crate::tui::screens::scroll::cycle;
use crate::tui::screens::tabs::{self, CYCLE, Screen};
use genq_protocol::catalog::LoraCard;
use std::path::PathBuf;

impl App {
    /// Switches screens; the gallery fetches its first page the first time it is shown.
    pub(super) fn goto(&mut self, screen: Screen) -> Vec<Command> {
        self.lora_popup = None;
        self.screen = screen;
        if screen == Screen::Loras {
            return self.gallery.show(&self.shared);
        }
        Vec::new()
    }

    /// The screen whose tab is lit: help and the log show the one they were opened from.
    pub fn current_tab(&self) -> Screen {
        if self.screen.is_overlay() {
            self.help_for
        } else {
            self.screen
        }
    }

    /// Tab and Shift-Tab: the next or previous screen, whatever is open. A form keeps its
    /// draft; the detail screen opens the selected job when none is open yet.
    pub(super) fn cycle_screen(&mut self, forward: bool) -> Vec<Command> {
        let at = CYCLE
            .iter()
            .position(|s| *s == self.current_tab())
            .unwrap_or(0);
        let mut next = CYCLE[cycle(at, CYCLE.len(), forward)];
        let no_detail = self.detail.open.is_none() && self.jobs.selected_job().is_none();
        if next == Screen::Detail && no_detail {
            next = if forward {
                Screen::Submit
            } else {
                Screen::Jobs
            };
        }
        // A search prompt left open would capture keys on return; what it filtered stays.
        self.jobs.search.close();
        self.gallery.search.close();
        if next == Screen::Detail && self.detail.open.is_none() {
            self.lora_popup = None;
            return self.open_detail();
        }
        self.goto(next)
    }

    /// Help and the message log open over the current screen and return to it.
    pub(super) fn toggle_overlay(&mut self, overlay: Screen) -> Vec<Command> {
        if self.screen == overlay {
            self.screen = self.help_for;
            return Vec::new();
        }
        if !self.screen.is_overlay() {
            self.help_for = self.screen;
        }
        self.lora_popup = None;
        self.help.scroll = 0;
        self.messages.scroll = 0;
        self.screen = overlay;
        Vec::new()
    }

    /// Esc: closes what is open (a popup, a search prompt, an overlay), clears a search,
    /// or goes back to the jobs screen.
    pub(super) fn back(&mut self) -> Vec<Command> {
        if self.lora_popup.take().is_some() {
            return Vec::new();
        }
        match self.screen {
            Screen::Jobs => self.jobs.back(&self.shared).unwrap_or_default(),
            Screen::Loras => match self.gallery.back(&self.shared) {
                Some(cmds) => cmds,
                None => {
                    self.screen = Screen::Jobs;
                    Vec::new()
                }
            },
            Screen::Help | Screen::Messages => {
                self.screen = self.help_for;
                Vec::new()
            }
            Screen::Detail | Screen::Submit | Screen::Models => {
                self.screen = Screen::Jobs;
                Vec::new()
            }
        }
    }

    /// A left click: a tab, a job row or a LoRA card.
    pub(super) fn click(&mut self, col: u16, row: u16) -> Vec<Command> {
        if self.confirm.is_some() || self.lora_popup.is_some() {
            return Vec::new();
        }
        if row == 0 {
            return match tabs::tab_at(col, self.shared.size.0, self.current_tab()) {
                Some(Screen::Detail) => self.update(Action::Ui(UiAction::GotoDetail)),
                Some(s) => self.goto(s),
                None => Vec::new(),
            };
        }
        match self.screen {
            Screen::Jobs if self.batches.grouped => Vec::new(),
            Screen::Jobs => {
                self.jobs.click(row, &self.shared);
                Vec::new()
            }
            Screen::Loras => self.gallery.click(col, row, &self.shared),
            _ => Vec::new(),
        }
    }

    /// Enter on a job: its detail, fetched fresh.
    pub(super) fn open_detail(&mut self) -> Vec<Command> {
        let Some(job) = self.jobs.selected_job().cloned() else {
            return Vec::new();
        };
        let id = job.id.clone();
        self.detail.show(&job);
        self.screen = Screen::Detail;
        let mut cmds = self.job_loaded(job);
        cmds.push(Command::FetchJob(id.clone()));
        cmds.push(Command::FetchEvents(id));
        cmds
    }

    /// Enter on a LoRA card, or on one of the open job's LoRAs: its details.
    pub(super) fn open_lora_card(&mut self) -> Vec<Command> {
        let card = match self.screen {
            Screen::Loras => self.gallery.selected_card().cloned(),
            _ => match self.detail.lora_repo().map(str::to_string) {
                None => {
                    self.shared.note("this job used no LoRA");
                    return Vec::new();
                }
                Some(repo) => match self.detail.lora_cards.get(&repo) {
                    Some(LoraLookup::Found(card)) => Some((**card).clone()),
                    Some(LoraLookup::Failed(e)) => {
                        let e = e.clone();
                        self.shared
                            .fail(format!("the card of {repo} is unavailable: {e}"));
                        return Vec::new();
                    }
                    _ => {
                        self.shared.note(format!("loading the card of {repo}…"));
                        return Vec::new();
                    }
                },
            },
        };
        if let Some(card) = card {
            self.lora_popup = Some(CardPopup::new(card));
        }
        Vec::new()
    }

    /// `L` on a job: the LoRAs screen, searching for the job's LoRA and focused on its card.
    pub(super) fn open_job_lora(&mut self) -> Vec<Command> {
        let Some(repo) = self.detail.lora_repo().map(str::to_string) else {
            self.shared.note("this job used no LoRA");
            return Vec::new();
        };
        let cmds = self.gallery.find(&repo, &self.shared);
        self.screen = Screen::Loras;
        cmds
    }

    /// A new job with `cards` on the submit screen, when a model takes them all.
    pub(super) fn start_with_loras(&mut self, cards: Vec<LoraCard>) -> Vec<Command> {
        if self.form.start_with_loras(&cards, &mut self.shared) {
            self.lora_popup = None;
            self.screen = Screen::Submit;
        }
        Vec::new()
    }

    /// The keys that act on a job (the detail's on the detail screen, else the selected
    /// row): cancel (after a question), retry, re-run with edits, export, copy an output's
    /// location, open an output.
    pub(super) fn job_action(&mut self, ui: UiAction) -> Vec<Command> {
        let target = match self.screen {
            Screen::Detail => self.detail.job(),
            _ => self.jobs.selected_job(),
        };
        let Some(job) = target.cloned() else {
            return Vec::new();
        };
        let shared = &mut self.shared;
        match ui {
            UiAction::Cancel if job.state.is_final() => {
                shared.note(format!("job {} is already {}", job.short_id(), job.state));
                Vec::new()
            }
            UiAction::Cancel => {
                self.confirm = Some(Confirm {
                    question: format!("Cancel job {}?", job.short_id()),
                    command: Command::Cancel(job.id.clone()),
                });
                Vec::new()
            }
            UiAction::Retry if job.state.is_final() => vec![Command::Retry(job.id.clone())],
            UiAction::Retry => {
                shared.note(format!("job {} is still {}", job.short_id(), job.state));
                Vec::new()
            }
            UiAction::Rerun => {
                self.pending_rerun = Some(job.short_id());
                vec![Command::ExportForRerun(job.id.clone())]
            }
            UiAction::Export => vec![Command::ExportToFile {
                id: job.id.clone(),
                path: PathBuf::from(format!("genq-job-{}.json", job.short_id())),
            }],
            UiAction::Copy => {
                let text = job.outputs.iter().find_map(|o| {
                    o.uploads
                        .iter()
                        .find_map(|u| u.url.clone())
                        .or_else(|| o.path.clone())
                        .or_else(|| o.source_url.clone())
                });
                match text {
                    Some(t) => {
                        shared.note(format!("copied {t}"));
                        vec![Command::Copy(t)]
                    }
                    None => {
                        shared.note("this job has no output to copy");
                        Vec::new()
                    }
                }
            }
            _ => match job.outputs.iter().find_map(|o| o.path.clone()) {
                Some(path) => vec![Command::OpenOutput {
                    id: job.id.clone(),
                    path,
                }],
                None => {
                    shared.note("this job has no local output");
                    Vec::new()
                }
            },
        }
    }
}
