//! Tripo's uploads: multipart `/upload` and `/upload/sts`, STS grants from
//! `/upload/sts/token`, and the fake's own S3-style bucket they PUT into (providers.md §3.2).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::replies::{auth, bad, not_found, ok};
use super::state::{STS_BUCKET, STS_MAX_BYTES, TpState};
use crate::fakes::common::lock;

/// The `file` part of a `multipart/form-data` body.
fn multipart_file(headers: &HeaderMap, body: &[u8]) -> Option<Bytes> {
    let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !ct.starts_with("multipart/form-data") {
        return None;
    }
    let boundary = ct.split("boundary=").nth(1)?.trim_matches('"');
    let delim = format!("--{boundary}");
    let d = delim.as_bytes();
    let mut starts = Vec::new();
    let mut i = 0;
    while i + d.len() <= body.len() {
        if &body[i..i + d.len()] == d {
            starts.push(i);
            i += d.len();
        } else {
            i += 1;
        }
    }
    for w in starts.windows(2) {
        let part = &body[w[0] + d.len()..w[1]];
        let sep = part.windows(4).position(|x| x == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&part[..sep]);
        if !head.contains("name=\"file\"") {
            continue;
        }
        let content = &part[sep + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        return Some(Bytes::copy_from_slice(content));
    }
    None
}

fn is_image(b: &[u8]) -> bool {
    b.starts_with(&[0xFF, 0xD8, 0xFF])
        || b.starts_with(b"\x89PNG\r\n\x1a\n")
        || (b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP")
}

pub(super) async fn upload(
    State(state): State<Arc<TpState>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let gone = {
        let i = lock(&state.inner);
        i.multipart_404 || (uri.path() == "/upload" && i.upload_404)
    };
    if gone {
        return not_found().await;
    }
    if let Err(r) = auth(&state, &headers) {
        return *r;
    }
    let Some(file) = multipart_file(&headers, &body) else {
        return bad(
            1003,
            "The request body must be multipart/form-data with a file field",
        );
    };
    if file.is_empty() {
        return bad(2003, "The uploaded file is empty");
    }
    if !is_image(&file) {
        return bad(2004, "Unsupported file type: use webp, jpeg or png");
    }
    let token = uuid::Uuid::now_v7().to_string();
    lock(&state.inner).uploads.insert(token.clone(), file);
    ok(json!({"image_token": token}))
}

/// `POST /upload/sts/token` `{"format"}`: temporary credentials for one object in the fake's
/// own bucket (§3.2), `s3_host` being the fake itself (with its `http://` scheme: it has no
/// TLS).
pub(super) async fn sts_token(
    State(state): State<Arc<TpState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = auth(&state, &headers) {
        return *r;
    }
    let format = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v.get("format").and_then(Value::as_str).map(str::to_string));
    let formats = ["webp", "jpeg", "png", "glb", "obj", "fbx", "stl"];
    let Some(format) = format.filter(|f| formats.contains(&f.as_str())) else {
        return bad(
            1004,
            "format must be one of webp, jpeg, png, glb, obj, fbx, stl",
        );
    };
    let id = uuid::Uuid::now_v7().simple().to_string();
    let key = format!("openapi/uploads/{id}.{format}");
    let ak = format!("ASIAFAKE{}", &id[..12].to_ascii_uppercase());
    let sk = uuid::Uuid::now_v7().simple().to_string();
    let token = format!("fake-session-{}", uuid::Uuid::now_v7().simple());
    lock(&state.inner)
        .sts_grants
        .insert(key.clone(), (ak.clone(), token.clone()));
    ok(json!({
        "s3_host": state.core.base_url(),
        "resource_bucket": STS_BUCKET,
        "resource_uri": key,
        "session_token": token,
        "sts_ak": ak,
        "sts_sk": sk,
    }))
}

/// An S3 XML error.
fn s3_error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/xml")],
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>\
             <Message>{message}</Message></Error>"
        ),
    )
        .into_response()
}

/// PutObject into the STS bucket: the key must have a grant, the request must be SigV4 with
/// the grant's access key id, and carry (and sign) its session token.
pub(super) async fn s3_put(
    State(state): State<Arc<TpState>>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut i = lock(&state.inner);
    let Some((ak, token)) = i.sts_grants.get(&key).cloned() else {
        return s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
    };
    let h = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let authz = h("authorization");
    let signed = authz
        .split("SignedHeaders=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or("");
    if !authz.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ak}/")) {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        );
    }
    if h("x-amz-security-token") != token {
        return s3_error(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "The provided token is malformed or otherwise invalid.",
        );
    }
    let unsigned = headers
        .keys()
        .map(|n| n.as_str())
        .filter(|n| n.starts_with("x-amz-"))
        .any(|n| !signed.split(';').any(|s| s == n));
    if unsigned {
        return s3_error(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "There were headers present in the request which were not signed",
        );
    }
    if body.is_empty() || body.len() > STS_MAX_BYTES {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
        );
    }
    i.objects.insert(key, body);
    (StatusCode::OK, [(header::ETAG, "\"fake-etag\"")]).into_response()
}
