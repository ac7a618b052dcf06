//! Where keys go: the actions bound in the keymap are routed to the app (quitting,
//! switching screens, overlays) or to the screen or dialog they act on; unbound keys and
//! pasted text go to the open search prompt or the focused form field.

use super::state::App;
use crate::tui::action::UiAction;
use crate::tui::command::Command;
use crate::tui::keymap::Context;
use crate::tui::screens::tabs::Screen;
use crossterm::event::KeyEvent;

impl App {
    /// A key bound in the keymap.
    pub(super) fn ui(&mut self, ui: UiAction) -> Vec<Command> {
        use UiAction as A;
        if let Some(cmds) = self.batch_ui(ui) {
            return cmds;
        }
        match ui {
            A::ForceQuit | A::Quit => {
                self.quit = true;
                vec![Command::Quit]
            }
            A::Suspend => vec![Command::Suspend],
            A::Help => self.toggle_overlay(Screen::Help),
            A::Messages => self.toggle_overlay(Screen::Messages),
            A::ToggleMouse => {
                self.mouse = !self.mouse;
                let state = if self.mouse { "on" } else { "off" };
                self.shared.note(format!("mouse {state}"));
                vec![Command::SetMouse(self.mouse)]
            }
            A::NextScreen | A::PrevScreen => self.cycle_screen(ui == A::NextScreen),
            A::GotoModels => self.goto(Screen::Models),
            A::GotoLoras => self.goto(Screen::Loras),
            A::GotoJobs => self.goto(Screen::Jobs),
            A::GotoDetail if self.detail.open.is_some() => self.goto(Screen::Detail),
            A::GotoDetail => self.open_detail(),
            A::GotoSubmit => self.goto(Screen::Submit),
            A::NewJob | A::Generate => self.new_job(),
            A::OpenLora => self.open_job_lora(),
            A::Back => self.back(),
            A::Open => match self.screen {
                Screen::Loras | Screen::Detail => self.open_lora_card(),
                _ => self.open_detail(),
            },
            A::ConfirmYes => self.confirm.take().map(|c| c.yes()).into_iter().collect(),
            A::ConfirmNo => {
                self.confirm = None;
                Vec::new()
            }
            A::Copy if self.lora_popup.is_some() => match &self.lora_popup {
                Some(popup) => popup.copy(&mut self.shared),
                None => Vec::new(),
            },
            A::Cancel | A::Retry | A::Rerun | A::Export | A::Copy | A::OpenOutput => {
                self.job_action(ui)
            }
            _ => self.screen_ui(ui),
        }
    }

    /// A key that acts on the screen shown.
    fn screen_ui(&mut self, ui: UiAction) -> Vec<Command> {
        use UiAction as A;
        let shared = &mut self.shared;
        match (ui, self.screen) {
            (A::GroupBatches, _) => self.batches.toggle(),
            (A::ToggleView, _) => {
                self.models.toggle_view();
                Vec::new()
            }
            (A::Refresh, Screen::Loras) => self.gallery.retry(shared),
            (A::Refresh, Screen::Models) => vec![Command::FetchCatalog],
            (A::Refresh, _) => self.jobs.refresh(shared),
            (A::NextSource | A::MarkLora, _) | (A::ToggleSort, Screen::Loras) => {
                self.gallery.action(ui, shared)
            }
            (A::ToggleSort, _) => self.jobs.toggle_sort(shared),
            (A::FilterNext | A::FilterPrev | A::FilterBase, Screen::Loras) => {
                self.gallery.cycle_base(ui != A::FilterPrev, shared)
            }
            (A::FilterNext | A::FilterPrev | A::FilterBase, _) => {
                self.jobs.cycle_filter(ui != A::FilterPrev, shared)
            }
            (A::Search, Screen::Loras) => {
                self.gallery.search.open();
                Vec::new()
            }
            (A::Search, _) => {
                self.jobs.search.open();
                Vec::new()
            }
            (A::SearchApply, Screen::Loras) => self.gallery.apply_search(shared),
            (A::SearchApply, _) => {
                self.jobs.search.close();
                Vec::new()
            }
            (A::Up | A::Down | A::Top | A::Bottom | A::PageUp | A::PageDown, _) => self.motion(ui),
            (A::PickNext | A::PickPrev | A::NextLora, _) => self.pick(ui != A::PickPrev),
            (A::FieldNext | A::FieldPrev | A::NormalizeLoras | A::FormSubmit | A::ClearForm, _) => {
                self.form.action(ui, shared)
            }
            _ => Vec::new(),
        }
    }

    /// Up, down and paging: on the LoRA card when one is open, else on the screen.
    fn motion(&mut self, ui: UiAction) -> Vec<Command> {
        let shared = &self.shared;
        if let Some(popup) = self.lora_popup.as_mut() {
            popup.scroll(ui, shared);
            return Vec::new();
        }
        match self.screen {
            Screen::Jobs => return self.jobs.motion(ui, shared),
            Screen::Loras => return self.gallery.motion(ui, shared),
            Screen::Help => self.help.scroll(ui, shared),
            Screen::Detail => self.detail.scroll(ui, shared),
            Screen::Messages => self.messages.scroll(ui, shared),
            Screen::Models => self.models.motion(ui),
            Screen::Submit => {}
        }
        Vec::new()
    }

    /// Left / right: the LoRA card, the supplier, the job's LoRA, the provider or model.
    fn pick(&mut self, forward: bool) -> Vec<Command> {
        match self.screen {
            Screen::Loras => {
                let ui = if forward {
                    UiAction::PickNext
                } else {
                    UiAction::PickPrev
                };
                return self.gallery.motion(ui, &self.shared);
            }
            Screen::Models => self.models.pick(forward),
            Screen::Detail => self.detail.pick_lora(forward),
            _ => self.form.pick_choice(forward),
        }
        Vec::new()
    }

    /// Typed text for the search prompt or the focused form field.
    pub(super) fn input(&mut self, ev: KeyEvent) -> Vec<Command> {
        if let Some(search) = self.open_search_mut() {
            if !search.type_key(ev) {
                return Vec::new();
            }
            return self.search_typed();
        }
        if self.screen == Screen::Submit {
            self.form.input(ev);
        }
        Vec::new()
    }

    /// Pasted text goes where typed text would; single-line inputs get it on one line.
    pub(super) fn paste(&mut self, text: &str) -> Vec<Command> {
        if let Some(search) = self.open_search_mut() {
            search.paste(text);
            return self.search_typed();
        }
        if self.screen == Screen::Submit {
            self.form.paste(text);
        }
        Vec::new()
    }

    /// The jobs list follows the search as it is typed; the LoRA search (a remote site) is
    /// sent with Enter.
    fn search_typed(&mut self) -> Vec<Command> {
        if self.screen != Screen::Jobs {
            return Vec::new();
        }
        self.jobs.search_typed(&self.shared)
    }

    /// `n`: a new job from what the screen shows (a LoRA card, the marked LoRAs, the
    /// selected model), else the form with the user's draft.
    fn new_job(&mut self) -> Vec<Command> {
        match self.context() {
            Context::Card => {
                let card = self.lora_popup.take().map(|p| *p.card);
                self.start_with_loras(card.into_iter().collect())
            }
            Context::Loras => self.start_with_loras(self.gallery.cards_for_job()),
            Context::Models => {
                let key = self.models.selected_model().map(|m| m.key.clone());
                self.form.use_model(key, &mut self.shared);
                self.goto(Screen::Submit)
            }
            _ => {
                self.form.open_new(&mut self.shared);
                self.goto(Screen::Submit)
            }
        }
    }
}
