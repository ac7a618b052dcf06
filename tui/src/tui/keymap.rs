//! The keymap as data: which key does what in which context, with the description the help
//! screen and the hint line show. Overridable with [`Keymap::rebind`] (from `config.toml`).

use crate::tui::action::UiAction;
use crate::tui::key::Key;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
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

impl Binding {
    pub fn new(context: Context, key: Key, action: UiAction, description: &'static str) -> Binding {
        Binding {
            context,
            key,
            action,
            description,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Keymap {
    bindings: Vec<Binding>,
}

impl Default for Keymap {
    /// The keys genq ships, in the order help lists them.
    fn default() -> Self {
        use Context::*;
        use KeyCode as K;
        use UiAction as A;
        let b = Binding::new;
        let bindings = [
            vec![
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
            ],
            motions(Jobs, &["next job", "previous job", "first job", "last job"]),
            pages(Jobs),
            vec![
                b(Jobs, Key::plain(K::Enter), A::Open, "open job detail"),
                b(Jobs, Key::ch('n'), A::NewJob, "new job"),
                b(Jobs, Key::ch('f'), A::FilterNext, "filter: next state"),
                b(Jobs, Key::ch('F'), A::FilterPrev, "filter: previous state"),
                b(Jobs, Key::ch('/'), A::Search, "search prompts as you type"),
                b(Jobs, Key::ch('s'), A::ToggleSort, "sort newest/oldest"),
            ],
            job_keys(Jobs),
            vec![
                b(Jobs, Key::ctrl('r'), A::Refresh, "reload"),
                b(Jobs, Key::plain(K::Esc), A::Back, "clear search"),
                b(
                    Jobs,
                    Key::ch('b'),
                    A::GroupBatches,
                    "batches: jobs grouped by batch",
                ),
            ],
            motions(
                Batches,
                &[
                    "next batch or row",
                    "previous batch or row",
                    "first",
                    "last",
                ],
            ),
            pages(Batches),
            vec![
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
            ],
            motions(Detail, &SCROLL),
            pages(Detail),
            job_keys(Detail),
            vec![b(Detail, Key::ch('n'), A::NewJob, "new job")],
            picks(
                Detail,
                &["next LoRA of the job", "previous LoRA of the job"],
            ),
            vec![
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
            ],
            motions(
                Models,
                &["next model", "previous model", "first model", "last model"],
            ),
            picks(Models, &["next supplier", "previous supplier"]),
            vec![
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
            ],
            picks(Loras, &["next card", "previous card"]),
            motions(
                Loras,
                &["card below", "card above", "first card", "last card"],
            ),
            pages(Loras),
            vec![
                b(Card, Key::plain(K::Esc), A::Back, "close"),
                b(Card, Key::ch('n'), A::NewJob, "new job with this LoRA"),
                b(Card, Key::ch('y'), A::Copy, "copy the page URL"),
            ],
            motions(Card, &SCROLL[..2]),
            vec![b(Help, Key::plain(K::Esc), A::Back, "close help")],
            motions(Help, &SCROLL[..2]),
            vec![b(Messages, Key::plain(K::Esc), A::Back, "close the log")],
            motions(Messages, &["scroll down", "scroll up", "oldest", "newest"]),
            pages(Messages),
            vec![
                b(Confirm, Key::ch('y'), A::ConfirmYes, "yes"),
                b(Confirm, Key::plain(K::Enter), A::ConfirmYes, "yes"),
                b(Confirm, Key::ch('n'), A::ConfirmNo, "no"),
                b(Confirm, Key::plain(K::Esc), A::ConfirmNo, "no"),
                b(Search, Key::plain(K::Enter), A::SearchApply, "done"),
                b(Search, Key::plain(K::Esc), A::Back, "cancel search"),
            ],
        ]
        .concat();
        Keymap { bindings }
    }
}

/// The two keys of each motion in a list or a text (the vi letter, then the named key):
/// down, up, top, bottom.
const MOTIONS: [(UiAction, [Key; 2]); 4] = [
    (UiAction::Down, [Key::ch('j'), Key::plain(KeyCode::Down)]),
    (UiAction::Up, [Key::ch('k'), Key::plain(KeyCode::Up)]),
    (UiAction::Top, [Key::ch('g'), Key::plain(KeyCode::Home)]),
    (UiAction::Bottom, [Key::ch('G'), Key::plain(KeyCode::End)]),
];

/// The two keys of picking the next or the previous of a row of choices.
const PICKS: [(UiAction, [Key; 2]); 2] = [
    (
        UiAction::PickNext,
        [Key::ch('l'), Key::plain(KeyCode::Right)],
    ),
    (
        UiAction::PickPrev,
        [Key::ch('h'), Key::plain(KeyCode::Left)],
    ),
];

/// The keys that act on one job, the same on the jobs table and on a job's detail.
const JOB_KEYS: [(Key, UiAction, &str); 6] = [
    (Key::ch('c'), UiAction::Cancel, "cancel job"),
    (Key::ch('r'), UiAction::Retry, "retry job"),
    (Key::ch('R'), UiAction::Rerun, "re-run with edits"),
    (Key::ch('e'), UiAction::Export, "export params to a file"),
    (Key::ch('y'), UiAction::Copy, "copy output URL/path"),
    (Key::ch('o'), UiAction::OpenOutput, "open output"),
];

/// How the motions read on a text that scrolls.
const SCROLL: [&str; 4] = ["scroll down", "scroll up", "top", "bottom"];

/// The first actions of `table` in `context`, each with both its keys and the description
/// standing at its place.
fn keyed(
    context: Context,
    table: &[(UiAction, [Key; 2])],
    descriptions: &[&'static str],
) -> Vec<Binding> {
    let actions = table.iter().zip(descriptions);
    actions
        .flat_map(|(&(action, keys), &description)| {
            keys.map(|key| Binding::new(context, key, action, description))
        })
        .collect()
}

/// The first motions in `context`, one description each.
fn motions(context: Context, descriptions: &[&'static str]) -> Vec<Binding> {
    keyed(context, &MOTIONS, descriptions)
}

/// Both picks in `context`, one description each.
fn picks(context: Context, descriptions: &[&'static str; 2]) -> Vec<Binding> {
    keyed(context, &PICKS, descriptions)
}

/// The job keys in `context`.
fn job_keys(context: Context) -> Vec<Binding> {
    let job_key = |(key, action, description)| Binding::new(context, key, action, description);
    JOB_KEYS.map(job_key).to_vec()
}

/// Page up and page down in `context`.
fn pages(context: Context) -> Vec<Binding> {
    let page =
        |code, action, description| Binding::new(context, Key::plain(code), action, description);
    vec![
        page(KeyCode::PageUp, UiAction::PageUp, "page up"),
        page(KeyCode::PageDown, UiAction::PageDown, "page down"),
    ]
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
        self.bindings
            .push(Binding::new(ctx, key, action, description));
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
