//! A list screen's `/` search: the text applied to the list and, while the prompt is open,
//! the text being typed. The jobs screen applies it as it is typed, the LoRA gallery (a
//! remote site) on Enter; both open, type, cancel and clear it the same way.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Default)]
pub struct Search {
    /// The applied search text.
    pub applied: String,
    /// The search being typed, while the `/` prompt is open.
    pub input: Option<String>,
    /// The search applied when the prompt was opened, restored by Esc.
    before: Option<String>,
}

impl Search {
    pub fn is_open(&self) -> bool {
        self.input.is_some()
    }

    /// `/`: the prompt opens with the applied search, which Esc puts back.
    pub fn open(&mut self) {
        self.input = Some(self.applied.clone());
        self.before = Some(self.applied.clone());
    }

    /// Closes the prompt; what was applied stays.
    pub fn close(&mut self) {
        self.input = None;
        self.before = None;
    }

    /// Searches for `text` at once, closing the prompt.
    pub fn set(&mut self, text: String) {
        self.close();
        self.applied = text;
    }

    /// A key typed into the open prompt: a character is added, Backspace takes the last one
    /// off. `false` when the key edits nothing.
    pub fn type_key(&mut self, ev: KeyEvent) -> bool {
        let Some(text) = self.input.as_mut() else {
            return false;
        };
        match ev.code {
            KeyCode::Char(c) if !ev.modifiers.contains(KeyModifiers::CONTROL) => text.push(c),
            KeyCode::Backspace => {
                text.pop();
            }
            _ => return false,
        }
        true
    }

    /// Pasted text goes into the open prompt on one line.
    pub fn paste(&mut self, pasted: &str) {
        if let Some(text) = self.input.as_mut() {
            text.push_str(&pasted.replace(['\r', '\n'], " "));
        }
    }

    /// Applies the text typed so far, trimmed. Returns whether the search changed.
    pub fn apply_typed(&mut self) -> bool {
        let text = self.input.as_deref().unwrap_or("").trim();
        if text == self.applied {
            return false;
        }
        self.applied = text.to_string();
        true
    }

    /// Esc: closes the prompt (putting back the search from before it), else clears the
    /// search. `None` when there was nothing to close; else whether the search changed.
    pub fn cancel(&mut self) -> Option<bool> {
        if self.input.take().is_some() {
            let before = self.before.take().unwrap_or_else(|| self.applied.clone());
            let changed = before != self.applied;
            self.applied = before;
            return Some(changed);
        }
        if self.applied.is_empty() {
            return None;
        }
        self.applied.clear();
        Some(true)
    }
}
