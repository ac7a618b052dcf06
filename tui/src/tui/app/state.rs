//! The app's state: which screen is shown, the screens themselves, the dialogs over them
//! and the context they share. [`App::update`] routes each action to where it belongs.

use crate::tui::action::Action;
use crate::tui::command::Command;
use crate::tui::keymap::Context;
use crate::tui::live::Live;
use crate::tui::screens::batches::BatchesScreen;
use crate::tui::screens::confirm::Confirm;
use crate::tui::screens::detail::DetailScreen;
use crate::tui::screens::help::HelpScreen;
use crate::tui::screens::jobs::{self, JobsScreen};
use crate::tui::screens::lora_card::CardPopup;
use crate::tui::screens::loras::Gallery;
use crate::tui::screens::messages::MessagesScreen;
use crate::tui::screens::models::ModelsScreen;
use crate::tui::screens::search::Search;
use crate::tui::screens::submit::SubmitForm;
use crate::tui::screens::tabs::Screen;
use crate::tui::shared::{Connection, Shared};
use crossterm::event::KeyEvent;
use genq_protocol::Timestamp;

pub struct App {
    pub screen: Screen,
    /// The screen help or the message log was opened from.
    pub help_for: Screen,
    /// What every screen is given.
    pub shared: Shared,
    pub jobs: JobsScreen,
    /// The jobs screen grouped by batch.
    pub batches: BatchesScreen,
    pub detail: DetailScreen,
    pub form: SubmitForm,
    pub models: ModelsScreen,
    pub gallery: Gallery,
    pub help: HelpScreen,
    pub messages: MessagesScreen,
    pub confirm: Option<Confirm>,
    /// A LoRA's details over the screen.
    pub lora_popup: Option<CardPopup>,
    pub live: Live,
    pub mouse: bool,
    pub quit: bool,
    /// The shown id of the job whose parameters are being loaded into the form.
    pub(super) pending_rerun: Option<String>,
}

impl App {
    pub fn new(size: (u16, u16), now: Timestamp) -> App {
        App {
            screen: Screen::Jobs,
            help_for: Screen::Jobs,
            shared: Shared::new(size, now),
            jobs: JobsScreen::default(),
            batches: BatchesScreen::default(),
            detail: DetailScreen::default(),
            form: SubmitForm::default(),
            models: ModelsScreen::default(),
            gallery: Gallery::default(),
            help: HelpScreen::default(),
            messages: MessagesScreen::default(),
            confirm: None,
            lora_popup: None,
            live: Live::default(),
            mouse: false,
            quit: false,
            pending_rerun: None,
        }
    }

    /// The keymap context for the current screen and overlays.
    pub fn context(&self) -> Context {
        if self.confirm.is_some() {
            return Context::Confirm;
        }
        if self.lora_popup.is_some() {
            return Context::Card;
        }
        if self.search_input().is_some() {
            return Context::Search;
        }
        match self.screen {
            Screen::Jobs if self.batches.grouped => Context::Batches,
            Screen::Jobs => Context::Jobs,
            Screen::Detail => Context::Detail,
            Screen::Submit => Context::Submit,
            Screen::Models => Context::Models,
            Screen::Loras => Context::Loras,
            Screen::Help => Context::Help,
            Screen::Messages => Context::Messages,
        }
    }

    /// The keys help lists: those of the screen it was opened from.
    pub fn help_context(&self) -> Context {
        match self.help_for {
            Screen::Jobs if self.batches.grouped => Context::Batches,
            Screen::Jobs | Screen::Help | Screen::Messages => Context::Jobs,
            Screen::Detail => Context::Detail,
            Screen::Submit => Context::Submit,
            Screen::Models => Context::Models,
            Screen::Loras => Context::Loras,
        }
    }

    /// The search being typed on this screen, while its `/` prompt is open.
    pub fn search_input(&self) -> Option<&String> {
        let search = match self.screen {
            Screen::Jobs => &self.jobs.search,
            Screen::Loras => &self.gallery.search,
            _ => return None,
        };
        search.input.as_ref()
    }

    /// This screen's search, while its `/` prompt is open.
    pub(super) fn open_search_mut(&mut self) -> Option<&mut Search> {
        let search = match self.screen {
            Screen::Jobs => &mut self.jobs.search,
            Screen::Loras => &mut self.gallery.search,
            _ => return None,
        };
        Some(search).filter(|s| s.is_open())
    }

    /// Turns a key into an action through the keymap; unbound keys go to the text input.
    pub fn key_action(&self, ev: KeyEvent) -> Action {
        let ctx = self.context();
        if ctx == Context::Submit && self.form.takes_cursor_key(&ev) {
            return Action::Input(ev);
        }
        match self.shared.keymap.lookup(ctx, &ev) {
            Some(a) => Action::Ui(a),
            None => Action::Input(ev),
        }
    }

    /// Convenience for the loop and tests: key → action → update.
    pub fn key(&mut self, ev: KeyEvent) -> Vec<Command> {
        let action = self.key_action(ev);
        self.update(action)
    }

    /// Whether a periodic tick is needed: something on screen is moving.
    pub fn needs_tick(&self) -> bool {
        self.jobs.moving(&self.shared)
            || self.detail.moving()
            || self.form.sending
            || (self.screen == Screen::Loras && !self.gallery.loading.is_empty())
            || matches!(
                self.shared.conn,
                Connection::Reconnecting { .. } | Connection::Connecting
            )
    }

    /// Whether live events left something to refetch (the loop debounces, then flushes).
    pub fn has_stale(&self) -> bool {
        self.live.has_stale()
    }

    /// Rows the jobs table shows at the current size.
    pub fn table_rows(&self) -> usize {
        jobs::visible_rows(self.shared.size.1)
    }

    /// The refetches that live events asked for since the last flush, coalesced.
    pub fn flush_stale(&mut self) -> Vec<Command> {
        let mut cmds = Vec::new();
        if self.live.page {
            cmds.push(self.jobs.fetch_page(&self.shared));
            self.live.rows.clear();
        }
        for id in std::mem::take(&mut self.live.rows) {
            if self.jobs.has_row(&id) {
                cmds.push(Command::FetchJob(id));
            }
        }
        if std::mem::take(&mut self.live.detail) {
            for cmd in self.detail.refetch() {
                if !cmds.contains(&cmd) {
                    cmds.push(cmd);
                }
            }
        }
        if std::mem::take(&mut self.live.batches) && self.batches.grouped {
            cmds.extend(self.batches.refetch());
        }
        if std::mem::take(&mut self.live.status) {
            cmds.push(Command::FetchStatus);
        }
        self.live.page = false;
        cmds
    }

    pub fn update(&mut self, action: Action) -> Vec<Command> {
        match action {
            Action::Ui(ui) => {
                self.shared.info = None;
                self.ui(ui)
            }
            Action::Input(ev) => self.input(ev),
            Action::Paste(text) => self.paste(&text),
            Action::Resize(w, h) => {
                self.shared.size = (w, h);
                let mut cmds = if self.jobs.loaded {
                    self.jobs.follow_selection(&self.shared)
                } else {
                    Vec::new()
                };
                if self.screen == Screen::Loras && self.gallery.started {
                    cmds.extend(self.gallery.follow(&self.shared));
                }
                cmds
            }
            Action::Tick => {
                self.shared.spinner.calc_next();
                Vec::new()
            }
            Action::Click { col, row } => self.click(col, row),
            reply => self.reply(reply),
        }
    }
}
