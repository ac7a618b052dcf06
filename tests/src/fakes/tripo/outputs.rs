//! Tripo's output files behind signed, expiring links: the model (GLB or FBX), the PBR model
//! and the preview image.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::state::{Phase, TpOutcome, TpState};
use crate::fakes::common::{lock, make_png, oss_denied, png_reply};

pub(super) async fn download(
    State(state): State<Arc<TpState>>,
    Path((task_id, file)): Path<(String, String)>,
    uri: axum::http::Uri,
) -> Response {
    let i = lock(&state.inner);
    let missing = || oss_denied("NoSuchKey", "The specified key does not exist.");
    let Some(task) = i.tasks.get(&task_id) else {
        return missing();
    };
    let expires = uri
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("Signature=")))
        .and_then(|sig| task.links.get(sig));
    let Some(expires) = expires else {
        return oss_denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    };
    let now = Instant::now();
    if task.phase(now) != Phase::Done || task.script.outcome != TpOutcome::Succeed {
        return missing();
    }
    if now >= *expires {
        return oss_denied("AccessDenied", "Request has expired.");
    }
    match file.as_str() {
        "model.glb" | "pbr.glb" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "model/gltf-binary")],
            glb(&format!("{task_id}/{file}")),
        )
            .into_response(),
        "model.fbx" => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream")],
            fbx(&task_id),
        )
            .into_response(),
        "preview.png" => png_reply(make_png(&format!("tripo/{task_id}/preview"))),
        _ => missing(),
    }
}

/// A valid binary glTF 2.0: header (`glTF`, version 2, total length), a JSON chunk and a
/// BIN chunk whose bytes derive from `seed`.
pub fn glb(seed: &str) -> Bytes {
    let mut json = serde_json::to_vec(&json!({
        "asset": {"version": "2.0", "generator": "fake-tripo"},
        "buffers": [{"byteLength": 64}],
        "extras": {"seed": seed},
    }))
    .unwrap_or_default();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let bin: Vec<u8> = seed
        .bytes()
        .cycle()
        .take(64)
        .enumerate()
        .map(|(k, b)| b.wrapping_add(k as u8))
        .collect();
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(&0x4E4F_534Au32.to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(&0x004E_4942u32.to_le_bytes());
    out.extend_from_slice(&bin);
    Bytes::from(out)
}

/// The start of a binary FBX file (magic and version), enough for type checks.
fn fbx(seed: &str) -> Bytes {
    let mut out = b"Kaydara FBX Binary  \x00\x1a\x00".to_vec();
    out.extend_from_slice(&7400u32.to_le_bytes());
    out.extend_from_slice(seed.as_bytes());
    out.resize(256, 0);
    Bytes::from(out)
}
