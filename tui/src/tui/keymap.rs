//! The keymap as data: which key does what in which context, with the description the help
//! screen and the hint line show. Overridable with [`Keymap::rebind`] (from `config.toml`).

use crate::tui::action::UiAction;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use std::fmt;
use std::str::FromStr;

/// Where a binding applies. `Global` bindings apply everywhere except that in text inputs a
/// key that types a character (a letter without Ctrl or Alt) is typed instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    Jobs,
    /// The jobs screen grouped by batch.
    Batches,
    Detail,
    Submit,
    Models,
    Loras,
    /// The details of one LoRA, over the LoRAs or detail screen.
    Card,
    Help,
    /// The message log.
    Messages,
    Confirm,
    Search,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Jobs => "Jobs",
            Context::Batches => "Jobs by batch",
            Context::Detail => "Job detail",
            Context::Submit => "Submit",
            Context::Models => "Models",
            Context::Loras => "LoRAs",
            Context::Card => "LoRA details",
            Context::Help => "Help",
            Context::Messages => "Messages",
            Context::Confirm => "Confirm",
            Context::Search => "Search",
        }
    }

    /// Contexts where unbound keys are typed into a text input.
    pub fn is_text(self) -> bool {
        matches!(self, Context::Submit | Context::Search)
    }

    pub fn from_name(name: &str) -> Option<Context> {
        Some(match name {
            "global" => Context::Global,
            "jobs" => Context::Jobs,
            "batches" => Context::Batches,
            "detail" => Context::Detail,
            "submit" => Context::Submit,
            "models" => Context::Models,
            "loras" => Context::Loras,
            "card" => Context::Card,
            "help" => Context::Help,
            "messages" => Context::Messages,
            "confirm" => Context::Confirm,
            "search" => Context::Search,
            _ => return None,
        })
    }
}

/// A key with its modifiers, written like `ctrl-c`, `G`, `pgdn`, `enter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl Key {
    pub const fn new(code: KeyCode, mods: KeyModifiers) -> Key {
        Key { code, mods }
    }

    pub const fn plain(code: KeyCode) -> Key {
        Key::new(code, KeyModifiers::NONE)
    }

    pub const fn ch(c: char) -> Key {
        Key::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Key {
        Key::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    /// Whether this key types a character into a text input (no Ctrl or Alt).
    pub fn types_text(&self) -> bool {
        matches!(self.code, KeyCode::Char(_))
            && !self
                .mods
                .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
    }

    /// Whether a terminal key event is this key. Shift is implied by upper-case letters and
    /// symbols, so it is ignored for characters.
    pub fn matches(&self, ev: &KeyEvent) -> bool {
        let relevant = KeyModifiers::CONTROL | KeyModifiers::ALT;
        match (self.code, ev.code) {
            (KeyCode::Char(a), KeyCode::Char(b)) => {
                let same = if self.mods.contains(KeyModifiers::CONTROL) {
                    a.eq_ignore_ascii_case(&b)
                } else {
                    a == b
                };
                same && (ev.modifiers & relevant) == (self.mods & relevant)
            }
            (KeyCode::BackTab, KeyCode::BackTab) => true,
            (a, b) => a == b && ev.modifiers == self.mods,
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            f.write_str("Ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            f.write_str("Alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("Space"),
            KeyCode::Char(c) if self.mods.contains(KeyModifiers::CONTROL) => {
                write!(f, "{}", c.to_ascii_uppercase())
            }
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::PageUp => f.write_str("PgUp"),
            KeyCode::PageDown => f.write_str("PgDn"),
            KeyCode::Home => f.write_str("Home"),
            KeyCode::End => f.write_str("End"),
            KeyCode::Enter => f.write_str("Enter"),
            KeyCode::Esc => f.write_str("Esc"),
            KeyCode::Tab => f.write_str("Tab"),
            KeyCode::BackTab => f.write_str("Shift-Tab"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum KeymapError {
    #[error(
        "unknown key {0:?}; write a character, ctrl-X, alt-X, or one of enter, esc, tab, backtab, up, down, left, right, pgup, pgdn, home, end, space, f1-f12"
    )]
    BadKey(String),
    #[error("unknown action {0:?}; see the help screen (?) for the action names")]
    BadAction(String),
    #[error(
        "unknown key context {0:?}; allowed: global, jobs, batches, detail, submit, models, loras, card, help, messages, confirm, search"
    )]
    BadContext(String),
}

impl FromStr for Key {
    type Err = KeymapError;
    fn from_str(s: &str) -> Result<Key, KeymapError> {
        let bad = || KeymapError::BadKey(s.to_string());
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            let lower = rest.to_ascii_lowercase();
            if lower.starts_with("ctrl-") && rest.len() > 5 {
                mods |= KeyModifiers::CONTROL;
                rest = &rest[5..];
            } else if lower.starts_with("alt-") && rest.len() > 4 {
                mods |= KeyModifiers::ALT;
                rest = &rest[4..];
            } else {
                break;
            }
        }
        let code = match rest.to_ascii_lowercase().as_str() {
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "space" => KeyCode::Char(' '),
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                KeyCode::F(f[1..].parse().map_err(|_| bad())?)
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(c),
                    _ => return Err(bad()),
                }
            }
        };
        Ok(Key { code, mods })
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Binding {
    pub context: Context,
    pub key: Key,
    pub action: UiAction,
    pub description: &'static str,
}

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    fn default() -> Self {
        use Context::*;
        use KeyCode as K;
        use UiAction as A;
        let b = |context, key, action, description| Binding {
            context,
            key,
            action,
            description,
        };
        let bindings = vec![
            b(Global, Key::ctrl('c'), A::ForceQuit, "quit now"),
            b(Global, Key::ctrl('z'), A::Suspend, "suspend to the shell"),
            b(Global, Key::ch('q'), A::Quit, "quit (jobs keep running)"),
            b(Global, Key::ch('?'), A::Help, "help for this screen"),
            b(Global, Key::plain(K::Tab), A::NextScreen, "next screen"),
            b(
                Global,
                Key::plain(K::BackTab),
                A::PrevScreen,
                "previous screen",
            ),
            b(Global, Key::ch('1'), A::GotoJobs, "jobs screen"),
            b(Global, Key::ch('2'), A::GotoDetail, "detail screen"),
            b(Global, Key::ch('3'), A::GotoSubmit, "submit screen"),
            b(Global, Key::ch('4'), A::GotoModels, "models screen"),
            b(Global, Key::ch('5'), A::GotoLoras, "LoRAs screen"),
            b(Global, Key::ch('M'), A::Messages, "message log"),
            b(Global, Key::ch('m'), A::ToggleMouse, "toggle mouse"),
            b(Jobs, Key::ch('j'), A::Down, "next job"),
            b(Jobs, Key::plain(K::Down), A::Down, "next job"),
            b(Jobs, Key::ch('k'), A::Up, "previous job"),
            b(Jobs, Key::plain(K::Up), A::Up, "previous job"),
            b(Jobs, Key::ch('g'), A::Top, "first job"),
            b(Jobs, Key::plain(K::Home), A::Top, "first job"),
            b(Jobs, Key::ch('G'), A::Bottom, "last job"),
            b(Jobs, Key::plain(K::End), A::Bottom, "last job"),
            b(Jobs, Key::plain(K::PageUp), A::PageUp, "page up"),
            b(Jobs, Key::plain(K::PageDown), A::PageDown, "page down"),
            b(Jobs, Key::plain(K::Enter), A::Open, "open job detail"),
            b(Jobs, Key::ch('n'), A::NewJob, "new job"),
            b(Jobs, Key::ch('f'), A::FilterNext, "filter: next state"),
            b(Jobs, Key::ch('F'), A::FilterPrev, "filter: previous state"),
            b(Jobs, Key::ch('/'), A::Search, "search prompts as you type"),
            b(Jobs, Key::ch('s'), A::ToggleSort, "sort newest/oldest"),
            b(Jobs, Key::ch('c'), A::Cancel, "cancel job"),
            b(Jobs, Key::ch('r'), A::Retry, "retry job"),
            b(Jobs, Key::ch('R'), A::Rerun, "re-run with edits"),
            b(Jobs, Key::ch('e'), A::Export, "export params to a file"),
            b(Jobs, Key::ch('y'), A::Copy, "copy output URL/path"),
            b(Jobs, Key::ch('o'), A::OpenOutput, "open output"),
            b(Jobs, Key::ctrl('r'), A::Refresh, "reload"),
            b(Jobs, Key::plain(K::Esc), A::Back, "clear search"),
            b(
                Jobs,
                Key::ch('b'),
                A::GroupBatches,
                "batches: jobs grouped by batch",
            ),
            b(Batches, Key::ch('j'), A::Down, "next batch or row"),
            b(Batches, Key::plain(K::Down), A::Down, "next batch or row"),
            b(Batches, Key::ch('k'), A::Up, "previous batch or row"),
            b(Batches, Key::plain(K::Up), A::Up, "previous batch or row"),
            b(Batches, Key::ch('g'), A::Top, "first"),
            b(Batches, Key::plain(K::Home), A::Top, "first"),
            b(Batches, Key::ch('G'), A::Bottom, "last"),
            b(Batches, Key::plain(K::End), A::Bottom, "last"),
            b(Batches, Key::plain(K::PageUp), A::PageUp, "page up"),
            b(Batches, Key::plain(K::PageDown), A::PageDown, "page down"),
            b(
                Batches,
                Key::plain(K::Enter),
                A::Open,
                "open the batch's rows",
            ),
            b(Batches, Key::ch('c'), A::Cancel, "cancel the batch"),
            b(
                Batches,
                Key::ch('r'),
                A::Retry,
                "retry the batch's failed rows",
            ),
            b(
                Batches,
                Key::ch('b'),
                A::GroupBatches,
                "jobs: not grouped by batch",
            ),
            b(Batches, Key::ctrl('r'), A::Refresh, "reload"),
            b(Batches, Key::plain(K::Esc), A::Back, "back to the batches"),
            b(Detail, Key::plain(K::Esc), A::Back, "back to jobs"),
            b(Detail, Key::ch('j'), A::Down, "scroll down"),
            b(Detail, Key::plain(K::Down), A::Down, "scroll down"),
            b(Detail, Key::ch('k'), A::Up, "scroll up"),
            b(Detail, Key::plain(K::Up), A::Up, "scroll up"),
            b(Detail, Key::ch('g'), A::Top, "top"),
            b(Detail, Key::plain(K::Home), A::Top, "top"),
            b(Detail, Key::ch('G'), A::Bottom, "bottom"),
            b(Detail, Key::plain(K::End), A::Bottom, "bottom"),
            b(Detail, Key::plain(K::PageUp), A::PageUp, "page up"),
            b(Detail, Key::plain(K::PageDown), A::PageDown, "page down"),
            b(Detail, Key::ch('c'), A::Cancel, "cancel job"),
            b(Detail, Key::ch('r'), A::Retry, "retry job"),
            b(Detail, Key::ch('R'), A::Rerun, "re-run with edits"),
            b(Detail, Key::ch('e'), A::Export, "export params to a file"),
            b(Detail, Key::ch('y'), A::Copy, "copy output URL/path"),
            b(Detail, Key::ch('o'), A::OpenOutput, "open output"),
            b(Detail, Key::ch('n'), A::NewJob, "new job"),
            b(Detail, Key::ch('l'), A::PickNext, "next LoRA of the job"),
            b(
                Detail,
                Key::plain(K::Right),
                A::PickNext,
                "next LoRA of the job",
            ),
            b(
                Detail,
                Key::ch('h'),
                A::PickPrev,
                "previous LoRA of the job",
            ),
            b(
                Detail,
                Key::plain(K::Left),
                A::PickPrev,
                "previous LoRA of the job",
            ),
            b(Detail, Key::plain(K::Enter), A::Open, "details of the LoRA"),
            b(
                Detail,
                Key::ch('L'),
                A::OpenLora,
                "find the LoRA on the LoRAs screen",
            ),
            b(
                Submit,
                Key::plain(K::Esc),
                A::Back,
                "back to jobs (the draft stays)",
            ),
            b(Submit, Key::plain(K::Down), A::FieldNext, "next field"),
            b(Submit, Key::plain(K::Up), A::FieldPrev, "previous field"),
            b(
                Submit,
                Key::plain(K::Right),
                A::PickNext,
                "next provider/model",
            ),
            b(
                Submit,
                Key::plain(K::Left),
                A::PickPrev,
                "previous provider/model",
            ),
            b(Submit, Key::ctrl('s'), A::FormSubmit, "submit the job"),
            b(
                Submit,
                Key::ctrl('n'),
                A::NormalizeLoras,
                "normalise LoRA weights",
            ),
            b(Submit, Key::ctrl('l'), A::ClearForm, "clear the form"),
            b(
                Models,
                Key::ch('v'),
                A::ToggleView,
                "view: models / categories",
            ),
            b(Models, Key::ch('n'), A::NewJob, "new job with this model"),
            b(Models, Key::ctrl('r'), A::Refresh, "reload"),
            b(Models, Key::plain(K::Esc), A::Back, "back to jobs"),
            b(Models, Key::ch('j'), A::Down, "next model"),
            b(Models, Key::plain(K::Down), A::Down, "next model"),
            b(Models, Key::ch('k'), A::Up, "previous model"),
            b(Models, Key::plain(K::Up), A::Up, "previous model"),
            b(Models, Key::ch('g'), A::Top, "first model"),
            b(Models, Key::plain(K::Home), A::Top, "first model"),
            b(Models, Key::ch('G'), A::Bottom, "last model"),
            b(Models, Key::plain(K::End), A::Bottom, "last model"),
            b(Models, Key::ch('l'), A::PickNext, "next supplier"),
            b(Models, Key::plain(K::Right), A::PickNext, "next supplier"),
            b(Models, Key::ch('h'), A::PickPrev, "previous supplier"),
            b(
                Models,
                Key::plain(K::Left),
                A::PickPrev,
                "previous supplier",
            ),
            b(Loras, Key::plain(K::Enter), A::Open, "details of the LoRA"),
            b(Loras, Key::ch(' '), A::MarkLora, "mark/unmark (up to 6)"),
            b(
                Loras,
                Key::ch('n'),
                A::NewJob,
                "new job with the marked LoRAs",
            ),
            b(Loras, Key::ch('/'), A::Search, "search LoRAs (Enter sends)"),
            b(
                Loras,
                Key::ch('f'),
                A::FilterNext,
                "filter: next base model",
            ),
            b(
                Loras,
                Key::ch('F'),
                A::FilterPrev,
                "filter: previous base model",
            ),
            b(Loras, Key::ch('s'), A::ToggleSort, "sort downloads/newest"),
            b(
                Loras,
                Key::ch('S'),
                A::NextSource,
                "source: ModelScope, Civitai, Hugging Face",
            ),
            b(Loras, Key::ctrl('r'), A::Refresh, "reload"),
            b(Loras, Key::plain(K::Esc), A::Back, "clear search / back"),
            b(Loras, Key::ch('l'), A::PickNext, "next card"),
            b(Loras, Key::plain(K::Right), A::PickNext, "next card"),
            b(Loras, Key::ch('h'), A::PickPrev, "previous card"),
            b(Loras, Key::plain(K::Left), A::PickPrev, "previous card"),
            b(Loras, Key::ch('j'), A::Down, "card below"),
            b(Loras, Key::plain(K::Down), A::Down, "card below"),
            b(Loras, Key::ch('k'), A::Up, "card above"),
            b(Loras, Key::plain(K::Up), A::Up, "card above"),
            b(Loras, Key::ch('g'), A::Top, "first card"),
            b(Loras, Key::plain(K::Home), A::Top, "first card"),
            b(Loras, Key::ch('G'), A::Bottom, "last card"),
            b(Loras, Key::plain(K::End), A::Bottom, "last card"),
            b(Loras, Key::plain(K::PageUp), A::PageUp, "page up"),
            b(Loras, Key::plain(K::PageDown), A::PageDown, "page down"),
            b(Card, Key::plain(K::Esc), A::Back, "close"),
            b(Card, Key::ch('n'), A::NewJob, "new job with this LoRA"),
            b(Card, Key::ch('y'), A::Copy, "copy the page URL"),
            b(Card, Key::ch('j'), A::Down, "scroll down"),
            b(Card, Key::plain(K::Down), A::Down, "scroll down"),
            b(Card, Key::ch('k'), A::Up, "scroll up"),
            b(Card, Key::plain(K::Up), A::Up, "scroll up"),
            b(Help, Key::plain(K::Esc), A::Back, "close help"),
            b(Help, Key::ch('j'), A::Down, "scroll down"),
            b(Help, Key::plain(K::Down), A::Down, "scroll down"),
            b(Help, Key::ch('k'), A::Up, "scroll up"),
            b(Help, Key::plain(K::Up), A::Up, "scroll up"),
            b(Messages, Key::plain(K::Esc), A::Back, "close the log"),
            b(Messages, Key::ch('j'), A::Down, "scroll down"),
            b(Messages, Key::plain(K::Down), A::Down, "scroll down"),
            b(Messages, Key::ch('k'), A::Up, "scroll up"),
            b(Messages, Key::plain(K::Up), A::Up, "scroll up"),
            b(Messages, Key::ch('g'), A::Top, "oldest"),
            b(Messages, Key::plain(K::Home), A::Top, "oldest"),
            b(Messages, Key::ch('G'), A::Bottom, "newest"),
            b(Messages, Key::plain(K::End), A::Bottom, "newest"),
            b(Messages, Key::plain(K::PageUp), A::PageUp, "page up"),
            b(Messages, Key::plain(K::PageDown), A::PageDown, "page down"),
            b(Confirm, Key::ch('y'), A::ConfirmYes, "yes"),
            b(Confirm, Key::plain(K::Enter), A::ConfirmYes, "yes"),
            b(Confirm, Key::ch('n'), A::ConfirmNo, "no"),
            b(Confirm, Key::plain(K::Esc), A::ConfirmNo, "no"),
            b(Search, Key::plain(K::Enter), A::SearchApply, "done"),
            b(Search, Key::plain(K::Esc), A::Back, "cancel search"),
        ];
        Keymap { bindings }
    }
}

impl Keymap {
    /// The action for a key in a context. Context bindings win over global ones; in text
    /// inputs, global bindings apply only to keys that type nothing (Ctrl-C, Tab), so letters
    /// can be typed.
    pub fn lookup(&self, context: Context, ev: &KeyEvent) -> Option<UiAction> {
        let in_context = self
            .bindings
            .iter()
            .find(|b| b.context == context && b.key.matches(ev));
        if let Some(b) = in_context {
            return Some(b.action);
        }
        if context == Context::Confirm {
            return self
                .bindings
                .iter()
                .find(|b| b.context == Context::Global && b.action == UiAction::ForceQuit)
                .filter(|b| b.key.matches(ev))
                .map(|b| b.action);
        }
        self.bindings
            .iter()
            .filter(|b| b.context == Context::Global)
            .filter(|b| !context.is_text() || !b.key.types_text())
            .find(|b| b.key.matches(ev))
            .map(|b| b.action)
    }

    /// The bindings of one context, in declaration order.
    pub fn bindings(&self, context: Context) -> impl Iterator<Item = &Binding> {
        self.bindings.iter().filter(move |b| b.context == context)
    }

    /// Binds `key` to the action named `action` in `context`, replacing whatever the key did
    /// there. The description is taken from the action's default binding.
    pub fn rebind(&mut self, context: &str, key: &str, action: &str) -> Result<(), KeymapError> {
        let ctx =
            Context::from_name(context).ok_or_else(|| KeymapError::BadContext(context.into()))?;
        let key: Key = key.parse()?;
        let action =
            UiAction::from_name(action).ok_or_else(|| KeymapError::BadAction(action.into()))?;
        let description = self
            .bindings
            .iter()
            .find(|b| b.action == action)
            .map_or("", |b| b.description);
        self.bindings
            .retain(|b| !(b.context == ctx && b.key == key));
        self.bindings.push(Binding {
            context: ctx,
            key,
            action,
            description,
        });
        Ok(())
    }

    /// Applies `[tui.keys.<context>]` tables (`action = "key"`) from `config.toml`. Every
    /// entry is tried; the errors name the entries that were refused.
    pub fn apply_config(&mut self, config: &toml::Table) -> Vec<String> {
        let mut errors = Vec::new();
        let Some(keys) = config
            .get("tui")
            .and_then(|t| t.get("keys"))
            .and_then(|k| k.as_table())
        else {
            return errors;
        };
        for (context, table) in keys {
            let Some(table) = table.as_table() else {
                errors.push(format!(
                    "[tui.keys.{context}] must be a table of action = \"key\""
                ));
                continue;
            };
            for (action, key) in table {
                let Some(key) = key.as_str() else {
                    errors.push(format!(
                        "tui.keys.{context}.{action}: the key must be a string"
                    ));
                    continue;
                };
                if let Err(e) = self.rebind(context, key, action) {
                    errors.push(format!("tui.keys.{context}.{action}: {e}"));
                }
            }
        }
        errors
    }

    /// The first key bound to an action in a context (or globally), for hints.
    pub fn key_for(&self, context: Context, action: UiAction) -> Option<Key> {
        self.bindings
            .iter()
            .find(|b| b.context == context && b.action == action)
            .or_else(|| {
                self.bindings
                    .iter()
                    .find(|b| b.context == Context::Global && b.action == action)
            })
            .map(|b| b.key)
    }
}
