//! Output paths from templates: `illustrations/{row:03}_{slug}.png` takes `{row}`, `{index}`,
//! `{slug}` (the row's own prompt, made safe for a file name) and any plain field of the row
//! (`{seed}`, `{style}`, `{model}`, …); `:0N` pads a number with zeros.

use serde_json::{Map, Value};

/// Longest slug, in characters.
const SLUG_MAX: usize = 48;

/// A prompt as a file-name piece: lowercase letters and digits joined by `-`.
pub fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
        if out.chars().count() >= SLUG_MAX {
            break;
        }
    }
    let trimmed = out.trim_end_matches('-');
    if trimmed.is_empty() {
        "untitled".into()
    } else {
        trimmed.to_string()
    }
}

/// Fills `template` from `vars`; `Err` names a placeholder that has no value or a brace left
/// open.
pub fn render(template: &str, vars: &Map<String, Value>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let close = after
            .find('}')
            .ok_or_else(|| format!("{template:?} has a '{{' without its '}}'"))?;
        let (name, width) = match after[..close].split_once(':') {
            Some((n, w)) => (n.trim(), Some(w.trim())),
            None => (after[..close].trim(), None),
        };
        let value = vars.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = vars.keys().map(String::as_str).collect();
            known.sort();
            format!("{{{name}}} has no value; known: {}", known.join(", "))
        })?;
        out.push_str(&format_value(value, width)?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn format_value(value: &Value, width: Option<&str>) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.replace(['/', '\\'], "-"),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => return Err("only text and numbers can go into a file name".into()),
    };
    let Some(width) = width else {
        return Ok(text);
    };
    let pad: usize = width
        .trim_start_matches('0')
        .parse()
        .map_err(|_| format!("width {width:?} is not like 03"))?;
    match value.as_i64() {
        Some(n) if n < 0 => Ok(format!("-{:0pad$}", n.unsigned_abs())),
        Some(n) => Ok(format!("{n:0pad$}")),
        None => Ok(format!("{text:>pad$}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_slugs_and_widths() {
        let vars = json!({"row": 7, "slug": slug("A Fox, in the snow!"), "style": "ink"});
        let Value::Object(vars) = vars else { panic!() };
        assert_eq!(
            render("ill/{row:03}_{slug}.png", &vars).unwrap(),
            "ill/007_a-fox-in-the-snow.png"
        );
        assert_eq!(render("{style}-{row}", &vars).unwrap(), "ink-7");
        assert!(render("{nope}.png", &vars).unwrap_err().contains("{nope}"));
        assert!(render("{row.png", &vars).is_err());
        assert_eq!(slug("!!!"), "untitled");
    }
}
