//! Reply and value helpers the fakes share: JSON, PNG and OSS-style error replies, header
//! reading and writing, request ids, output images and time helpers.

use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

/// Lock a mutex, recovering from poisoning (a panicking test thread must not wedge the fake).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A JSON reply with this status.
pub(crate) fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Add a header when the value is a valid header value.
pub(crate) fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// `reply` with a `Retry-After` header when `retry_after` is given.
pub(crate) fn with_retry_after(mut reply: Response, retry_after: Option<u64>) -> Response {
    if let Some(s) = retry_after {
        set_header(reply.headers_mut(), "retry-after", &s.to_string());
    }
    reply
}

/// Whether header `name` holds `want` (trimmed, case-insensitive).
pub(crate) fn header_is(headers: &HeaderMap, name: &str, want: &str) -> bool {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(want))
}

/// The token of an `Authorization: Bearer …` header, trimmed; `None` without one.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
}

/// The task id of an output download path `{prefix}{task_id}/{file}`.
pub(crate) fn output_task_id(path: &str, prefix: &str) -> Option<String> {
    let rest = path.strip_prefix(prefix)?;
    Some(rest.split('/').next().unwrap_or_default().to_string())
}

/// A scripted server error on an output download: plain text, as object storage sends it.
pub(crate) fn download_error(status: StatusCode) -> Response {
    (status, "internal error").into_response()
}

/// The OSS-style XML 403 an expired or tampered output URL gets.
pub(crate) fn oss_denied(code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>fake-oss</HostId>\n</Error>\n",
        new_request_id()
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// A PNG reply.
pub(crate) fn png_reply(bytes: Bytes) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

/// A fresh request id as the providers print them (UUID).
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Seconds since the Unix epoch of `t`.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A 64x64 PNG whose colours derive from `seed`, so every task and image index differs.
pub fn make_png(seed: &str) -> Bytes {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let [r, g, b, r2, g2, b2, ..] = h.to_le_bytes();
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        if (x / 8 + y / 8) % 2 == 0 {
            image::Rgb([r, g, b])
        } else {
            image::Rgb([
                r2,
                g2.wrapping_add(x as u8 * 2),
                b2.wrapping_add(y as u8 * 2),
            ])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding an in-memory RGB buffer to PNG cannot fail short of allocation failure.
    match img.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => Bytes::from(out.into_inner()),
        Err(_) => Bytes::new(),
    }
}

/// Number of characters, as the providers count prompt length.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// One part of a `multipart/form-data` body.
pub(crate) struct Part {
    pub name: String,
    /// The `filename` of a file part.
    pub filename: Option<String>,
    pub content: Vec<u8>,
}

/// The parts of a `multipart/form-data` body, by the boundary its `Content-Type` names; `None`
/// when it is not one.
pub(crate) fn multipart(headers: &HeaderMap, body: &[u8]) -> Option<Vec<Part>> {
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    if !content_type.starts_with("multipart/form-data") {
        return None;
    }
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut rest = body;
    loop {
        let start = find(rest, delimiter.as_bytes())? + delimiter.len();
        rest = &rest[start..];
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&rest[..head_end]).to_string();
        let quoted = |key: &str| Some(head.split(key).nth(1)?.split('"').next()?.to_string());
        let name = quoted(" name=\"")?;
        let filename = quoted("filename=\"");
        let content = &rest[head_end + 4..];
        let end = find(content, format!("\r\n{delimiter}").as_bytes())?;
        parts.push(Part {
            name,
            filename,
            content: content[..end].to_vec(),
        });
        rest = &content[end + 2..];
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
