//! The fake's `POST /upload/image` (comfyui.md §7.2): a multipart `image` part stored under
//! its file name in `input/` (or `temp/`, `output/`) and an optional `subfolder`; an existing
//! name is overwritten with `overwrite` = `true`/`1`, reused when the content is identical, or
//! else becomes `name (1).ext`, `name (2).ext`, …. Errors as aiohttp gives them: no image part
//! or an empty file name → 400 empty, an escaping subfolder → 400 empty, an unknown `type` →
//! a plain 500.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::json;

use super::ComfyState;
use crate::fakes::common::{json_reply, lock, multipart};
use crate::fakes::control::Endpoint;
use crate::fakes::server::Provider;

/// Where a file is kept: its folder type and `subfolder/name` (or `name`).
pub(super) fn file_key(kind: &str, subfolder: &str, name: &str) -> (String, String) {
    let path = if subfolder.is_empty() {
        name.to_string()
    } else {
        format!("{subfolder}/{name}")
    };
    (kind.to_string(), path)
}

/// `name (i).ext` for `name.ext`, as Python's `os.path.splitext` splits it.
fn numbered(name: &str, i: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({i}).{ext}"),
        _ => format!("{name} ({i})"),
    }
}

pub(super) async fn upload_image(
    axum::extract::State(state): axum::extract::State<Arc<ComfyState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let parts = multipart(&headers, &body).unwrap_or_default();
    let text = |field: &str| {
        parts
            .iter()
            .find(|p| p.name == field && p.filename.is_none())
            .map(|p| String::from_utf8_lossy(&p.content).to_string())
            .unwrap_or_default()
    };
    let Some((name, content)) = parts
        .iter()
        .find(|p| p.name == "image")
        .and_then(|p| Some((p.filename.clone()?, Bytes::from(p.content.clone()))))
        .filter(|(name, _)| !name.is_empty())
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let kind = match text("type").as_str() {
        "" => "input".to_string(),
        k @ ("input" | "temp" | "output") => k.to_string(),
        _ => return state.server_error(Endpoint::Upload, StatusCode::INTERNAL_SERVER_ERROR),
    };
    let subfolder = text("subfolder");
    if subfolder.starts_with('/') || subfolder.split(['/', '\\']).any(|s| s == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let overwrite = matches!(text("overwrite").as_str(), "true" | "1");
    let mut inner = lock(&state.inner);
    let mut chosen = name.clone();
    let mut i = 0;
    while !overwrite
        && let Some(existing) = inner.inputs.get(&file_key(&kind, &subfolder, &chosen))
        && *existing != content
    {
        i += 1;
        chosen = numbered(&name, i);
    }
    inner
        .inputs
        .insert(file_key(&kind, &subfolder, &chosen), content);
    json_reply(
        StatusCode::OK,
        &json!({"name": chosen, "subfolder": subfolder, "type": kind}),
    )
}

#[cfg(test)]
mod tests {
    use super::numbered;

    #[test]
    fn a_taken_name_gets_a_number_before_its_extension() {
        assert_eq!(numbered("cat.png", 1), "cat (1).png");
        assert_eq!(numbered("a.b.png", 2), "a.b (2).png");
        assert_eq!(numbered("noext", 1), "noext (1)");
    }
}
