//! The submit form's state: provider and model choices, the text fields (everything
//! `genq submit` can send), and validation against the model's ranges, re-run on every edit
//! so errors show as the user types. Errors are keyed by field so they can be shown next to
//! it, including the daemon's `invalid_params` replies.

use super::field::Field;
use super::inputs;
use crate::tui::catalog::{Choices, Limits, ModelChoice, ProviderChoice, SizeLimit};
use crate::tui::screens::scroll::cycle;
use genq_protocol::{JobSpec, Lora, Size};
use ratatui_textarea::TextArea;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

pub struct SubmitForm {
    /// What the pickers offer: the daemon's catalog, or the built-in list until it arrives.
    pub choices: Choices,
    pub provider: usize,
    pub model: usize,
    pub focus: Field,
    pub texts: BTreeMap<Field, TextArea<'static>>,
    /// The errors shown: the form's own checks for the fields edited (all of them once a
    /// submit was tried), then the daemon's.
    pub errors: BTreeMap<Field, String>,
    /// The daemon's errors from the last submit, until their field is edited.
    remote: BTreeMap<Field, String>,
    /// Fields the user has typed in.
    edited: BTreeSet<Field>,
    /// A submit was tried, so every field's error is shown.
    attempted: bool,
    /// Set while a submit is in flight.
    pub sending: bool,
    /// The job this form re-runs, for the title.
    pub rerun_of: Option<String>,
    /// The user moved a picker (so a catalog arriving later keeps their choice).
    pub touched: bool,
}

impl Default for SubmitForm {
    fn default() -> Self {
        SubmitForm::new(Choices::builtin())
    }
}

impl SubmitForm {
    /// An empty form with the default text-to-image model pre-selected.
    pub fn new(choices: Choices) -> SubmitForm {
        let (provider, model) = choices.default_for("text_to_image");
        let mut form = SubmitForm {
            choices,
            provider,
            model,
            focus: Field::Prompt,
            texts: BTreeMap::new(),
            errors: BTreeMap::new(),
            remote: BTreeMap::new(),
            edited: BTreeSet::new(),
            attempted: false,
            sending: false,
            rerun_of: None,
            touched: false,
        };
        for f in Field::ALL.into_iter().filter(|f| f.is_text()) {
            form.texts.insert(f, TextArea::default());
        }
        form
    }

    pub fn provider_choice(&self) -> &ProviderChoice {
        let n = self.choices.providers.len().max(1);
        &self.choices.providers[self.provider.min(n - 1)]
    }

    pub fn model_choice(&self) -> Option<&ModelChoice> {
        self.provider_choice().models.get(self.model)
    }

    pub fn provider_name(&self) -> &str {
        &self.provider_choice().name
    }

    pub fn model_name(&self) -> &str {
        self.model_choice().map_or("", |m| m.id.as_str())
    }

    /// What the selected model accepts.
    pub fn limits(&self) -> Limits {
        self.model_choice()
            .map(|m| m.limits.clone())
            .unwrap_or_default()
    }

    /// Replaces what the pickers offer, keeping the provider and model picked when the new
    /// list has them (else the provider's default model).
    pub fn set_choices(&mut self, choices: Choices) {
        let provider = self.provider_name().to_string();
        let model = self.model_name().to_string();
        // A form nobody touched follows the catalog's default; a choice made stays.
        let keep = self.touched || self.rerun_of.is_some();
        self.choices = choices;
        let (p, m) = match self.choices.provider_index(&provider).filter(|_| keep) {
            Some(p) => {
                let prov = &self.choices.providers[p];
                let m = prov
                    .models
                    .iter()
                    .position(|x| x.id == model)
                    .unwrap_or_else(|| prov.default_model());
                (p, m)
            }
            None => self.choices.default_for("text_to_image"),
        };
        self.provider = p;
        self.model = m;
        // The catalog's ranges may differ from the built-in ones.
        self.recheck();
    }

    pub fn text(&self, field: Field) -> String {
        self.texts
            .get(&field)
            .map(|t| t.lines().join("\n"))
            .unwrap_or_default()
    }

    pub fn set_text(&mut self, field: Field, value: &str) {
        let lines: Vec<String> = value.split('\n').map(str::to_string).collect();
        self.texts.insert(field, TextArea::new(lines));
    }

    pub fn textarea_mut(&mut self) -> Option<&mut TextArea<'static>> {
        self.texts.get_mut(&self.focus)
    }

    /// Whether Enter inserts a newline in the focused field (else it moves on).
    pub fn focus_is_multiline(&self) -> bool {
        self.focus.is_multiline()
    }

    /// Whether the cursor of the focused field is on its first line (Up leaves the field).
    pub fn cursor_on_first_line(&self) -> bool {
        self.texts
            .get(&self.focus)
            .is_none_or(|t| t.cursor().0 == 0)
    }

    /// Whether the cursor of the focused field is on its last line (Down leaves the field).
    pub fn cursor_on_last_line(&self) -> bool {
        self.texts
            .get(&self.focus)
            .is_none_or(|t| t.cursor().0 + 1 >= t.lines().len())
    }

    /// Whether the user typed anything, so leaving the form keeps a draft worth saying so.
    pub fn has_draft(&self) -> bool {
        self.texts
            .values()
            .any(|t| t.lines().iter().any(|l| !l.trim().is_empty()))
    }

    /// `field` was edited: its old daemon error no longer applies, and the form is checked.
    pub fn edited(&mut self, field: Field) {
        self.edited.insert(field);
        self.remote.remove(&field);
        self.recheck();
    }

    /// An error the daemon gave for `field`, shown until the field is edited.
    pub fn remote_error(&mut self, field: Field, message: String) {
        self.remote.insert(field, message.clone());
        self.errors.insert(field, message);
    }

    /// Checks the form again and shows the errors of the fields edited so far (of every
    /// field once a submit was tried).
    pub fn recheck(&mut self) {
        let (errors, _) = self.check();
        let shown = |f: &Field| self.attempted || self.edited.contains(f);
        let mut errors: BTreeMap<Field, String> =
            errors.into_iter().filter(|(f, _)| shown(f)).collect();
        for (f, e) in &self.remote {
            errors.entry(*f).or_insert_with(|| e.clone());
        }
        self.errors = errors;
    }

    pub fn focus_next(&mut self, forward: bool) {
        let i = Field::ALL
            .iter()
            .position(|f| *f == self.focus)
            .unwrap_or(0);
        self.focus = Field::ALL[cycle(i, Field::ALL.len(), forward)];
    }

    /// Left/Right on the provider or model picker.
    pub fn pick(&mut self, forward: bool) -> bool {
        match self.focus {
            Field::Provider => {
                self.provider = cycle(self.provider, self.choices.providers.len().max(1), forward);
                self.model = self.provider_choice().default_model();
                self.touched = true;
                self.remote.clear();
                true
            }
            Field::Model => {
                let n = self.provider_choice().models.len().max(1);
                self.model = cycle(self.model, n, forward);
                self.touched = true;
                self.remote.clear();
                true
            }
            _ => false,
        }
    }

    /// Rewrites the LoRA weights so they sum to 1.0, keeping their proportions.
    pub fn normalize_loras(&mut self) -> Result<(), String> {
        let loras = parse_loras(&self.text(Field::Loras))?;
        let sum: f64 = loras.iter().map(|l| l.weight).sum();
        if loras.is_empty() || sum <= 0.0 {
            return Err("LoRA weights must be positive to normalise".into());
        }
        let lines: Vec<String> = loras
            .iter()
            .map(|l| format!("{}:{}", l.repo, round3(l.weight / sum)))
            .collect();
        self.set_text(Field::Loras, &lines.join("\n"));
        self.edited(Field::Loras);
        Ok(())
    }

    /// Checks every field and builds the spec, or shows every field's error (a submit).
    pub fn validate(&mut self) -> Option<JobSpec> {
        self.attempted = true;
        self.remote.clear();
        let (errors, spec) = self.check();
        self.errors = errors;
        self.errors.is_empty().then_some(spec)
    }

    /// The spec the form describes and the errors of its fields.
    fn check(&self) -> (BTreeMap<Field, String>, JobSpec) {
        let limits = self.limits();
        let name = self.provider_name().to_string();
        let mut spec = JobSpec {
            provider: name.clone(),
            kind: self.model_choice().map(|m| m.kind),
            model: Some(self.model_name().to_string()).filter(|m| !m.is_empty()),
            ..JobSpec::default()
        };
        let mut errors = BTreeMap::new();
        let mut err = |f: Field, msg: String| {
            errors.entry(f).or_insert(msg);
        };
        inputs::check(|f| self.text(f), &mut spec, &mut err);
        let prompt = self.text(Field::Prompt).trim().to_string();
        let has_input = spec.image.is_some() || !spec.views.is_empty();
        if prompt.is_empty() && !has_input {
            err(Field::Prompt, "a prompt is required".into());
        } else if prompt.chars().count() > limits.prompt_max {
            err(
                Field::Prompt,
                format!("at most {} characters", limits.prompt_max),
            );
        }
        spec.prompt = prompt;
        let negative = self.text(Field::Negative).trim().to_string();
        if !negative.is_empty() {
            spec.negative_prompt = Some(negative);
        }
        let size = self.text(Field::Size).trim().to_string();
        if !size.is_empty() {
            match (size.parse::<Size>(), limits.size) {
                (_, None) => err(Field::Size, format!("{} takes no size", self.model_label())),
                (Err(e), _) => err(Field::Size, e),
                (Ok(s), Some(limit)) => match size_error(s, limit) {
                    Some(e) => err(Field::Size, e),
                    None => spec.size = Some(s),
                },
            }
        }
        match self.number(Field::Steps, "steps", limits.steps, "a whole number") {
            Ok(n) => spec.steps = n,
            Err(e) => err(Field::Steps, e),
        }
        match self.number(Field::Guidance, "guidance", limits.guidance, "a number") {
            Ok(g) => spec.guidance = g,
            Err(e) => err(Field::Guidance, e),
        }
        match self.number(Field::Seed, "seed", Some(limits.seed), "a whole number") {
            Ok(s) => spec.seed = s,
            Err(e) => err(Field::Seed, e),
        }
        match self.number(Field::Count, "count", Some(limits.count), "a whole number") {
            Ok(n) => spec.n = n,
            Err(e) => err(Field::Count, e),
        }
        self.check_loras(&limits, &mut spec, &mut err);
        (errors, spec)
    }

    /// The number typed in `field`, `None` when it is empty. The error says what the field
    /// takes: nothing, when the model has no `range` for it (`what` names it), else `noun`
    /// within the range.
    fn number<T: FromStr + PartialOrd + fmt::Display>(
        &self,
        field: Field,
        what: &str,
        range: Option<(T, T)>,
        noun: &str,
    ) -> Result<Option<T>, String> {
        let text = self.text(field).trim().to_string();
        if text.is_empty() {
            return Ok(None);
        }
        let Some((lo, hi)) = range else {
            return Err(format!("{} takes no {what}", self.model_label()));
        };
        match text.parse::<T>() {
            Ok(v) if v >= lo && v <= hi => Ok(Some(v)),
            _ => Err(format!("{noun} {lo}–{hi}")),
        }
    }

    /// The LoRAs: how many the model takes, and weights that sum to 1.0.
    fn check_loras(
        &self,
        limits: &Limits,
        spec: &mut JobSpec,
        err: &mut impl FnMut(Field, String),
    ) {
        match parse_loras(&self.text(Field::Loras)) {
            Err(e) => err(Field::Loras, e),
            Ok(loras) if loras.is_empty() => {}
            Ok(_) if limits.max_loras == 0 => err(
                Field::Loras,
                format!("{} takes no LoRAs", self.model_label()),
            ),
            Ok(loras) if loras.len() > limits.max_loras => {
                err(Field::Loras, format!("at most {} LoRAs", limits.max_loras))
            }
            Ok(loras) => {
                let sum: f64 = loras.iter().map(|l| l.weight).sum();
                if loras.len() > 1 && (sum - 1.0).abs() > 0.01 {
                    err(
                        Field::Loras,
                        format!(
                            "weights sum to {}, must be 1.0 (Ctrl-N normalises)",
                            round3(sum)
                        ),
                    );
                } else {
                    spec.loras = loras;
                }
            }
        }
    }

    /// A form filled from an exported spec (re-run with edits).
    pub fn from_spec(spec: &JobSpec, rerun_of: Option<String>, choices: Choices) -> SubmitForm {
        let mut form = SubmitForm {
            rerun_of,
            ..SubmitForm::new(choices)
        };
        if let Some(i) = form.choices.provider_index(&spec.provider) {
            form.provider = i;
            let models = &form.choices.providers[i].models;
            form.model = match &spec.model {
                Some(model) => models.iter().position(|m| &m.id == model).unwrap_or(0),
                None => form.choices.providers[i].default_model(),
            };
        }
        form.touched = true;
        form.set_text(Field::Prompt, &spec.prompt);
        let opt = |v: Option<String>| v.unwrap_or_default();
        form.set_text(Field::Negative, &opt(spec.negative_prompt.clone()));
        form.set_text(Field::Size, &opt(spec.size.map(|s| s.to_string())));
        form.set_text(Field::Steps, &opt(spec.steps.map(|s| s.to_string())));
        form.set_text(Field::Guidance, &opt(spec.guidance.map(|s| s.to_string())));
        form.set_text(Field::Seed, &opt(spec.seed.map(|s| s.to_string())));
        form.set_text(Field::Count, &opt(spec.n.map(|s| s.to_string())));
        let loras: Vec<String> = spec
            .loras
            .iter()
            .map(|l| format!("{}:{}", l.repo, l.weight))
            .collect();
        form.set_text(Field::Loras, &loras.join("\n"));
        inputs::fill(spec, |f, v| form.set_text(f, v));
        form
    }
}

impl SubmitForm {
    /// `provider model`, for messages.
    fn model_label(&self) -> String {
        match self.model_name() {
            "" => self.provider_name().to_string(),
            m => format!("{} {m}", self.provider_name()),
        }
    }
}

/// Why `s` is outside `limit`, if it is.
fn size_error(s: Size, limit: SizeLimit) -> Option<String> {
    match limit {
        SizeLimit::Sides(lo, hi) => {
            let ok = |v: u32| (lo..=hi).contains(&v);
            (!ok(s.width) || !ok(s.height)).then(|| format!("each side {lo}–{hi}"))
        }
        SizeLimit::Area { min, max, aspect } => {
            let pixels = u64::from(s.width) * u64::from(s.height);
            let ratio = f64::from(s.width) / f64::from(s.height.max(1));
            if !(min..=max).contains(&pixels) {
                Some(format!("width × height {min}–{max} pixels"))
            } else if ratio > aspect + 1e-9 || ratio < 1.0 / aspect - 1e-9 {
                Some(format!("aspect at most {}:1 either way", round3(aspect)))
            } else {
                None
            }
        }
    }
}

/// One `repo:weight` per line (or comma-separated); blank lines are skipped.
pub fn parse_loras(text: &str) -> Result<Vec<Lora>, String> {
    text.split(['\n', ','])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| l.parse::<Lora>())
        .collect()
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
