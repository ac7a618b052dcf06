//! What a person types for a job's inputs, read the same way by `genq submit` and the TUI's
//! form: `NAME=PATH` views, `KEY=VALUE` parameters, and input images given as a file or a URL.

use std::path::Path;

/// `NAME=PATH` for `--view`.
pub fn parse_view(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((name, path)) if !name.trim().is_empty() && !path.is_empty() => {
            Ok((name.trim().to_string(), path.to_string()))
        }
        _ => Err(format!(
            "{s:?} is not NAME=PATH, e.g. front=./front.png (views: front, left, back, right)"
        )),
    }
}

/// `KEY=VALUE` for `--param`: the value is JSON when it parses as JSON (`3`, `true`,
/// `[1,2]`, `"x"`), else the text as a string.
pub fn parse_param(s: &str) -> Result<(String, serde_json::Value), String> {
    let (key, value) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE, e.g. sampler=euler or cfg=3.5"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{s:?} has an empty KEY"));
    }
    let value = serde_json::from_str(value)
        .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
    Ok((key.to_string(), value))
}

/// A URL as given; a local file made absolute, and refused when it does not exist.
pub fn input_location(flag: &str, value: &str, cwd: &Path) -> Result<String, String> {
    if is_url(value) {
        return Ok(value.to_string());
    }
    let path = cwd.join(value);
    if !path.is_file() {
        return Err(format!(
            "{flag}: {value} is not a file (give a local image file or an http(s) URL)"
        ));
    }
    // `cwd` is absolute, so the join is; this only tidies `./` parts.
    let path = std::path::absolute(&path).unwrap_or(path);
    Ok(path.display().to_string())
}

/// Why the daemon on `host` cannot take `flag`'s path of this machine, and what it takes.
pub fn not_on_host(flag: &str, host: &str) -> String {
    format!(
        "{flag}: the daemon on {host} cannot read files of this machine; give an http(s) URL, \
         or a path on {host} as file:///PATH"
    )
}

/// Whether an input is a URL (the daemon fetches or reads it) rather than a path here.
pub fn is_url(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    ["http://", "https://", "data:", "s3://", "file://"]
        .iter()
        .any(|p| lower.starts_with(p))
}
