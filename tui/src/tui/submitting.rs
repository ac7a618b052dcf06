//! How the submit form changes the app: moving between fields, normalising LoRA weights,
//! clearing the form, and submitting it. Each edit re-checks the form, so errors show as
//! the user types. Called from [`App::update`] only.

use crate::tui::action::UiAction;
use crate::tui::app::App;
use crate::tui::command::Command;
use crate::tui::form::{Field, SubmitForm};

impl App {
    pub(crate) fn form_action(&mut self, ui: UiAction) -> Vec<Command> {
        match ui {
            UiAction::FieldNext | UiAction::FieldPrev => {
                self.form.focus_next(ui == UiAction::FieldNext);
                Vec::new()
            }
            UiAction::NormalizeLoras => {
                if let Err(e) = self.form.normalize_loras() {
                    self.form.errors.insert(Field::Loras, e);
                }
                Vec::new()
            }
            UiAction::ClearForm => {
                self.form = SubmitForm::new(self.form.choices.clone());
                self.note("the form was cleared");
                Vec::new()
            }
            _ => {
                if self.form.sending {
                    return Vec::new();
                }
                match self.form.validate() {
                    Some(spec) => {
                        self.form.sending = true;
                        vec![Command::Submit(spec)]
                    }
                    None => {
                        if let Some(first) = self.form.errors.keys().next() {
                            self.form.focus = *first;
                        }
                        Vec::new()
                    }
                }
            }
        }
    }
}
