//! How the submit form changes: moving between fields, typing and pasting, the pickers,
//! normalising LoRA weights, clearing, submitting and the daemon's answer, and the ways
//! other screens fill it (a re-run, a model, LoRAs). Each edit re-checks the form, so
//! errors show as the user types.

use super::field::Field;
use super::form::SubmitForm;
use crate::tui::action::{CallError, UiAction};
use crate::tui::catalog::Choices;
use crate::tui::command::Command;
use crate::tui::screens::loras::even_weights;
use crate::tui::shared::Shared;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use genq_protocol::JobSpec;
use genq_protocol::catalog::LoraCard;

impl SubmitForm {
    /// An empty form with the same choices.
    pub fn clear(&mut self) {
        *self = SubmitForm::new(self.choices.clone());
    }

    /// The form's own keys: the next field, normalising, clearing, submitting.
    pub fn action(&mut self, ui: UiAction, shared: &mut Shared) -> Vec<Command> {
        match ui {
            UiAction::FieldNext | UiAction::FieldPrev => {
                self.focus_next(ui == UiAction::FieldNext);
                Vec::new()
            }
            UiAction::NormalizeLoras => {
                if let Err(e) = self.normalize_loras() {
                    self.errors.insert(Field::Loras, e);
                }
                Vec::new()
            }
            UiAction::ClearForm => {
                self.clear();
                shared.note("the form was cleared");
                Vec::new()
            }
            _ => self.submit(),
        }
    }

    fn submit(&mut self) -> Vec<Command> {
        if self.sending {
            return Vec::new();
        }
        match self.validate() {
            Some(spec) => {
                self.sending = true;
                vec![Command::Submit(spec)]
            }
            None => {
                if let Some(first) = self.errors.keys().next() {
                    self.focus = *first;
                }
                Vec::new()
            }
        }
    }

    /// Whether a bound key moves the cursor in the focused text field instead (arrows
    /// inside the text; Up and Down leave the field on its first and last line).
    pub fn takes_cursor_key(&self, ev: &KeyEvent) -> bool {
        if !self.focus.is_text() {
            return false;
        }
        let cursor_keys = matches!(ev.code, KeyCode::Left | KeyCode::Right)
            || (ev.code == KeyCode::Up && !self.cursor_on_first_line())
            || (ev.code == KeyCode::Down && !self.cursor_on_last_line());
        cursor_keys && ev.modifiers == KeyModifiers::NONE
    }

    /// A key for the focused field; Enter in a one-line field moves on.
    pub fn input(&mut self, ev: KeyEvent) {
        if ev.code == KeyCode::Enter && !self.focus_is_multiline() {
            self.focus_next(true);
            return;
        }
        let focus = self.focus;
        if let Some(area) = self.textarea_mut()
            && area.input(ev)
        {
            self.edited(focus);
        }
    }

    /// Pasted text goes into the focused field; a one-line field gets it on one line.
    pub fn paste(&mut self, text: &str) {
        let multiline = self.focus_is_multiline();
        let focus = self.focus;
        if let Some(area) = self.textarea_mut() {
            let text = if multiline {
                text.replace("\r\n", "\n")
            } else {
                text.replace(['\r', '\n'], " ")
            };
            if area.insert_str(text) {
                self.edited(focus);
            }
        }
    }

    /// Left / right on a picker.
    pub fn pick_choice(&mut self, forward: bool) {
        if self.pick(forward) {
            self.recheck();
        }
    }

    /// The daemon refused the job: the error goes next to its field, else to the status bar.
    pub fn failed(&mut self, err: CallError, shared: &mut Shared) {
        self.sending = false;
        match err.field.as_deref().and_then(Field::from_wire) {
            Some(field) => {
                self.remote_error(field, err.to_string());
                self.focus = field;
            }
            None => shared.fail(format!("submit failed: {err}")),
        }
    }

    /// `jobs.export` came back for a re-run of job `of`: the form holds its spec.
    pub fn rerun(&mut self, spec: &JobSpec, of: Option<String>) {
        *self = SubmitForm::from_spec(spec, of, self.choices.clone());
    }

    /// Replaces a re-run form nobody sent with a clean one (saying so).
    pub fn drop_abandoned_rerun(&mut self, shared: &mut Shared) {
        if self.sending {
            return;
        }
        if let Some(of) = self.rerun_of.clone() {
            self.clear();
            shared.note(format!(
                "new job; the unsent re-run of {of} was set aside (R on the job opens it again)"
            ));
        }
    }

    /// `n`: a re-run left unsent is not the user's draft, so a clean form replaces it; the
    /// user's own draft is restored, and the status bar says so.
    pub fn open_new(&mut self, shared: &mut Shared) {
        self.drop_abandoned_rerun(shared);
        if self.has_draft() && !self.sending {
            shared.note("restoring your draft; Ctrl-L clears the form");
        }
    }

    /// `n` on the models screen: the form on the model `key` (`provider:model`).
    pub fn use_model(&mut self, key: Option<String>, shared: &mut Shared) {
        self.drop_abandoned_rerun(shared);
        if let Some((p, m)) = key.and_then(|k| self.choices.find_key(&k)) {
            self.provider = p;
            self.model = m;
            self.touched = true;
        }
    }

    /// A new job with `cards`, on a model that takes them all, weights summing to 1.0.
    /// Returns whether the form was filled (else the status bar says why not).
    pub fn start_with_loras(&mut self, cards: &[LoraCard], shared: &mut Shared) -> bool {
        if cards.is_empty() {
            shared.note("no LoRA selected; Space marks up to 6");
            return false;
        }
        let Some(&(p, m)) = lora_models(&self.choices, cards).first() else {
            let mut families: Vec<&str> = cards
                .iter()
                .map(|c| c.base_model.as_deref().unwrap_or("unknown"))
                .collect();
            families.dedup();
            shared.note(format!(
                "no model takes all of these LoRAs (families: {}); unmark some",
                families.join(", ")
            ));
            return false;
        };
        let mut form = SubmitForm::new(self.choices.clone());
        form.provider = p;
        form.model = m;
        form.touched = true;
        let weights = even_weights(cards.len());
        let lines: Vec<String> = cards
            .iter()
            .zip(weights)
            .map(|(c, w)| format!("{}:{w}", c.id))
            .collect();
        form.set_text(Field::Loras, &lines.join("\n"));
        let mut triggers: Vec<&str> = cards
            .iter()
            .flat_map(|c| c.trigger_words.iter().map(String::as_str))
            .collect();
        triggers.dedup();
        if !triggers.is_empty() {
            form.set_text(Field::Prompt, &format!("{}, ", triggers.join(", ")));
        }
        form.focus = Field::Prompt;
        shared.note(format!(
            "{} LoRA(s) on {} {}",
            cards.len(),
            form.provider_name(),
            form.model_name()
        ));
        *self = form;
        true
    }
}

/// The models (provider and model index) that take all of `cards`: those the daemon
/// names for every card, else those of the cards' family; a default model first, then
/// the cards' own base repository.
fn lora_models(choices: &Choices, cards: &[LoraCard]) -> Vec<(usize, usize)> {
    let mut keys: Option<Vec<String>> = None;
    for c in cards.iter().filter(|c| !c.compatible_models.is_empty()) {
        keys = Some(match keys {
            None => c.compatible_models.clone(),
            Some(k) => k
                .into_iter()
                .filter(|x| c.compatible_models.contains(x))
                .collect(),
        });
    }
    let mut candidates: Vec<(usize, usize)> = match keys {
        Some(keys) => keys.iter().filter_map(|k| choices.find_key(k)).collect(),
        // No word from the daemon: match the families.
        None => choices
            .providers
            .iter()
            .enumerate()
            .flat_map(|(p, prov)| {
                prov.models
                    .iter()
                    .enumerate()
                    .filter_map(move |(m, model)| {
                        let family = model.lora_family.as_deref()?;
                        cards
                            .iter()
                            .all(|c| c.base_model.as_deref().is_none_or(|b| b == family))
                            .then_some((p, m))
                    })
            })
            .collect(),
    };
    candidates.sort_by_key(|(p, m)| {
        let model = &choices.providers[*p].models[*m];
        let is_base = cards
            .iter()
            .any(|c| c.base_repo.as_deref() == Some(model.id.as_str()));
        (model.default_for.is_empty(), !is_base)
    });
    candidates
}
