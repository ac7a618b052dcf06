//! `[styles.NAME]` and `[batch]`: house styles a batch row or `--style` applies, and the
//! inbox folder the daemon watches for batch files.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// `[styles.NAME]`: a fixed wording around the prompt, a negative prompt and parameters.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StyleSection {
    /// Put before the prompt (joined with ", ").
    pub prefix: Option<String>,
    /// Put after the prompt (joined with ", ").
    pub suffix: Option<String>,
    /// The negative prompt of rows that give none.
    pub negative_prompt: Option<String>,
    /// Spec fields (`size`, `steps`, `model`, …) or provider extras the style sets where a
    /// row does not.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
}

/// `[batch]`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchSection {
    /// The watched folder for batch files; `<data>/inbox` when unset.
    pub inbox: Option<PathBuf>,
    /// Set to `false` to not watch an inbox at all.
    pub watch_inbox: Option<bool>,
}

/// Refuses an inbox that is not an absolute path (the daemon's working directory is no
/// place anyone means).
pub(super) fn check(batch: &BatchSection) -> Result<(), String> {
    match &batch.inbox {
        Some(dir) if !dir.is_absolute() => Err(format!(
            "batch.inbox: {} is not an absolute path",
            dir.display()
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_must_be_absolute() {
        let relative = BatchSection {
            inbox: Some("inbox".into()),
            watch_inbox: None,
        };
        assert!(check(&relative).unwrap_err().contains("batch.inbox"));
        assert!(check(&BatchSection::default()).is_ok());
    }
}
