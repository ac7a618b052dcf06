//! A job's output files over HTTP: `GET /v1/jobs/{id}/outputs/{n}` with the bearer token,
//! `GET /files/{id}/{n}` with a signed expiry instead. Both serve only files the job's record
//! names, inside the outputs directory, with their content type, `ETag` (the sha256) and
//! single byte ranges.

use super::error::{ApiError, ApiPath, ApiQuery};
use super::job_path::JobPath;
use super::state::Shared;
use crate::outputs::resolve_inside;
use crate::server::methods::jobs;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use genq_protocol::methods::JobRef;
use genq_protocol::{Output, Timestamp};
use serde::Deserialize;
use std::path::PathBuf;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use utoipa::IntoParams;

/// Where output `index` of `job` is on disk, checked against the outputs directory.
fn output_path(st: &Shared, out: &Output) -> Result<PathBuf, ApiError> {
    let path = out.path.as_deref().ok_or_else(|| {
        ApiError::not_found(format!("output {} is not stored locally", out.index))
    })?;
    let root = &st.server.engine.paths().outputs;
    resolve_inside(root, std::path::Path::new(path))
        .map_err(|e| ApiError::not_found(format!("output {}: {e}", out.index)))
}

/// An output's bytes, whole.
pub async fn read_output(st: &Shared, out: &Output) -> Result<Vec<u8>, ApiError> {
    let path = output_path(st, out)?;
    tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read output {}: {e}", out.index)))
}

/// A link to output `index` of `job` that works without a token until it expires, on the
/// host and port the client reached.
pub fn signed_link(st: &Shared, headers: &HeaderMap, job: &str, index: u32) -> String {
    let ttl = st.server.engine.config().http.url_ttl.as_secs() as i64;
    let expires = Timestamp::now().unix_millis() / 1000 + ttl;
    let sig = st.signer.sign(job, index, expires);
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    format!("http://{host}/files/{job}/{index}?expires={expires}&sig={sig}")
}

/// Downloads one output.
#[utoipa::path(get, path = "/v1/jobs/{id}/outputs/{n}", tag = "jobs",
    params(
        JobPath,
        ("n" = u32, Path, description = "Output index"),
        ("Range" = Option<String>, Header, description = "One range: bytes=A-B, bytes=A-, bytes=-N"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for"),
        (status = 304, description = "If-None-Match matched the ETag"),
        (status = 404, description = "No such job or output", body = super::error::ErrorBody),
        (status = 416, description = "The range is outside the file", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn output(
    State(st): State<Shared>,
    ApiPath((id, n)): ApiPath<(String, u32)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = jobs::get(&st.server, JobRef { id }).await?;
    serve(&st, &job.outputs, n, &headers).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Signature {
    /// Unix seconds.
    pub expires: i64,
    pub sig: String,
}

/// Downloads one output through a signed link (from `response_format: url`).
#[utoipa::path(get, path = "/files/{id}/{n}", tag = "openai",
    params(
        ("id" = String, Path, description = "Job id"),
        ("n" = u32, Path, description = "Output index"),
        Signature,
    ),
    responses(
        (status = 200, description = "The file", content_type = "application/octet-stream"),
        (status = 206, description = "The range asked for"),
        (status = 403, description = "The link is expired or its signature wrong", body = super::error::ErrorBody),
        (status = 404, description = "No such job or output", body = super::error::ErrorBody),
    ))]
pub async fn signed(
    State(st): State<Shared>,
    ApiPath((id, n)): ApiPath<(String, u32)>,
    ApiQuery(q): ApiQuery<Signature>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let now = Timestamp::now().unix_millis() / 1000;
    if !st.signer.verify(&id, n, q.expires, &q.sig) || q.expires < now {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            "this link is expired or not valid; ask for the image again, or use \
             GET /v1/jobs/{id}/outputs/{n} with a token",
        )
        .code("link_expired"));
    }
    let job = jobs::get(&st.server, JobRef { id }).await?;
    serve(&st, &job.outputs, n, &headers).await
}

async fn serve(
    st: &Shared,
    outputs: &[Output],
    n: u32,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let out = outputs
        .iter()
        .find(|o| o.index == n)
        .ok_or_else(|| ApiError::not_found(format!("the job has no output {n}")))?;
    let path = output_path(st, out)?;
    let etag = out.sha256.as_ref().map(|s| format!("\"{s}\""));
    if let Some(tag) = &etag
        && headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"))
    {
        return Ok(with_etag(StatusCode::NOT_MODIFIED.into_response(), &etag));
    }
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("cannot open output {n}: {e}")))?;
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("cannot read output {n}: {e}")))?
        .len();
    let range = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(r) => Some(parse_range(r, len).ok_or_else(|| {
            ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "invalid_request_error",
                format!("range {r:?} is not one range inside the file's {len} bytes"),
            )
            .param("Range")
        })?),
    };
    let (start, end) = range.unwrap_or((0, len.saturating_sub(1)));
    let count = if len == 0 { 0 } else { end - start + 1 };
    file.seek(std::io::SeekFrom::Start(start))
        .await
        .map_err(|e| ApiError::internal(format!("cannot read output {n}: {e}")))?;
    let stream = tokio_util::io::ReaderStream::new(file.take(count));
    let mime = out
        .mime
        .clone()
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if range.is_some() {
        *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            resp.headers_mut().insert(header::CONTENT_RANGE, v);
        }
    }
    Ok(with_etag(resp, &etag))
}

fn with_etag(mut resp: Response, etag: &Option<String>) -> Response {
    if let Some(v) = etag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// One byte range (`bytes=A-B`, `bytes=A-`, `bytes=-N`) inside a file of `len` bytes, as
/// inclusive ends.
fn parse_range(header: &str, len: u64) -> Option<(u64, u64)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') || len == 0 {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    let (start, end) = if a.is_empty() {
        let n: u64 = b.parse().ok()?;
        if n == 0 {
            return None;
        }
        (len.saturating_sub(n), len - 1)
    } else {
        let start: u64 = a.parse().ok()?;
        let end = if b.is_empty() {
            len - 1
        } else {
            b.parse::<u64>().ok()?.min(len - 1)
        };
        (start, end)
    };
    (start <= end && start < len).then_some((start, end))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=95-200", 100), Some((95, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), None);
        assert_eq!(parse_range("items=0-1", 100), None);
    }
}
