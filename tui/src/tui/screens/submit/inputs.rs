//! The form's fields for what goes beside the prompt and the numbers: the input image, the
//! multi-view images, provider-specific `KEY=VALUE` parameters and the storage targets,
//! read and written as `genq submit` takes them (`--image`, `--view`, `--param`,
//! `--store` / `--no-store`).

use super::field::Field;
use crate::inputs::{parse_param, parse_view};
use genq_protocol::JobSpec;

/// What the Store field takes for "keep the outputs local only" (`--no-store`).
pub const LOCAL_ONLY: &str = "none";

/// Reads the input fields into `spec`, reporting what cannot be read by field.
pub(super) fn check(
    text: impl Fn(Field) -> String,
    spec: &mut JobSpec,
    err: &mut impl FnMut(Field, String),
) {
    let image = text(Field::Image).trim().to_string();
    if !image.is_empty() {
        spec.image = Some(image);
    }
    for (n, line) in lines(&text(Field::Views)) {
        match parse_view(line) {
            Ok((name, _)) if spec.views.contains_key(&name) => err(
                Field::Views,
                format!("line {n}: view {name} is given twice"),
            ),
            Ok((name, path)) => {
                spec.views.insert(name, path.trim().to_string());
            }
            Err(e) => err(Field::Views, format!("line {n}: {e}")),
        }
    }
    for (n, line) in lines(&text(Field::Params)) {
        match parse_param(line) {
            Ok((key, value)) => {
                spec.params.insert(key, value);
            }
            Err(e) => err(Field::Params, format!("line {n}: {e}")),
        }
    }
    let store = text(Field::Store);
    let names: Vec<String> = store
        .split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    spec.store = match names.as_slice() {
        [] => None,
        [only] if only == LOCAL_ONLY => Some(Vec::new()),
        _ if names.iter().any(|n| n == LOCAL_ONLY) => {
            err(
                Field::Store,
                format!("{LOCAL_ONLY} (local only) cannot be combined with targets"),
            );
            None
        }
        _ => Some(names),
    };
}

/// Fills the input fields from an exported spec, so a re-run keeps every input.
pub(super) fn fill(spec: &JobSpec, mut set_text: impl FnMut(Field, &str)) {
    set_text(Field::Image, spec.image.as_deref().unwrap_or(""));
    let views: Vec<String> = spec
        .views
        .iter()
        .map(|(name, path)| format!("{name}={path}"))
        .collect();
    set_text(Field::Views, &views.join("\n"));
    let params: Vec<String> = spec
        .params
        .iter()
        .map(|(key, value)| format!("{key}={}", param_text(value)))
        .collect();
    set_text(Field::Params, &params.join("\n"));
    let store = match &spec.store {
        None => String::new(),
        Some(targets) if targets.is_empty() => LOCAL_ONLY.to_string(),
        Some(targets) => targets.join(", "),
    };
    set_text(Field::Store, &store);
}

/// A parameter value as `--param` reads it back to the same value: text as itself unless
/// it would read as JSON, everything else as JSON.
fn param_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if serde_json::from_str::<serde_json::Value>(s).is_err() => {
            s.clone()
        }
        other => other.to_string(),
    }
}

/// The non-blank lines of a field with their 1-based numbers.
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
}
