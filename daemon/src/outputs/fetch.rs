//! One download attempt: stream to a temporary file beside the final one, hash while
//! streaming, enforce the size cap and the timeout, check status, length, magic bytes and
//! content, then fsync and rename into `<index>.<ext>`. Any failure removes the temporary
//! file, so nothing half-checked ever carries a final name.

use super::detect::{self, Expected, FileType};
use super::download::{FetchLimits, OutputError, output_file};
use super::fsutil::{TempGuard, sync_dir, temp_path};
use super::png_text;
use super::verify::{check_content, hex};
use crate::store::OutputFile;
use futures::StreamExt;
use genq_protocol::job::OutputRole;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Downloads `url` into `dir` as `<index>.<ext>`: streamed to a temporary file in `dir`,
/// hashed while streaming, checked, fsynced and renamed into place. On any failure nothing
/// is left under the final name and the temporary file is removed. The extension follows
/// the bytes received, never the URL or the server's headers.
///
/// Errors have kind `download` (HTTP status, network, size cap, timeout, URL scheme) or
/// `verify` (wrong type, image does not decode, bad GLB); `retryable` is set only for
/// network errors, timeouts, truncated bodies and 408/429/5xx.
///
/// For PNG outputs, `png_params` (the job's parameters) is written into a `tEXt` chunk before
/// the file gets its final name (the recorded hash and size are those of the file with the
/// chunk); it is ignored for other types.
#[allow(clippy::too_many_arguments)]
pub async fn fetch(
    http: &reqwest::Client,
    url: &str,
    role: OutputRole,
    format_hint: Option<&str>,
    dir: &Path,
    index: u32,
    limits: &FetchLimits,
    png_params: Option<&str>,
) -> Result<OutputFile, OutputError> {
    let spooled = spooled_path(url, limits)?;
    let parsed = match spooled {
        Some(_) => None,
        None => Some(check_url(url)?),
    };
    let shown = parsed
        .as_ref()
        .map_or_else(|| "the kept reply".to_string(), shown_url);
    let expect = Expected::for_role(role, format_hint);
    tokio::fs::create_dir_all(dir).await.map_err(|e| {
        OutputError::local(format!(
            "cannot create the output directory {}: {e}",
            dir.display()
        ))
    })?;
    let guard = TempGuard::new(temp_path(dir, &index.to_string()));
    let copy = async {
        match (&spooled, parsed) {
            (Some(path), _) => {
                take_spooled(path, &shown, expect, guard.path(), limits.max_bytes).await
            }
            (None, Some(url)) => {
                download(http, url, &shown, expect, guard.path(), limits.max_bytes).await
            }
            (None, None) => Err(OutputError::download("no URL to download".to_string())),
        }
    };
    let downloaded = match tokio::time::timeout(limits.timeout, copy).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(OutputError::download_retryable(format!(
                "the download of {shown} did not finish within {} s",
                limits.timeout.as_secs_f64()
            )));
        }
    };
    let dir = dir.to_path_buf();
    let png_params = png_params.map(str::to_string);
    let fetched = tokio::task::spawn_blocking(move || {
        finish(guard, downloaded, &dir, index, png_params.as_deref())
    })
    .await
    .map_err(|e| OutputError::verify(format!("the verification task failed: {e}")))??;
    if let Some(path) = spooled {
        // Stored: the kept copy has done its work.
        let _ = tokio::fs::remove_file(path).await;
    }
    Ok(fetched)
}

/// The file a `file://` URL names when it lies in the spool directory; `None` for any other
/// scheme; refused for a `file://` URL elsewhere.
fn spooled_path(url: &str, limits: &FetchLimits) -> Result<Option<PathBuf>, OutputError> {
    if !url.starts_with("file://") {
        return Ok(None);
    }
    let path = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.to_file_path().ok());
    match (path, &limits.spool) {
        (Some(p), Some(spool)) if p.parent() == Some(spool.as_path()) && !url.contains("..") => {
            Ok(Some(p))
        }
        _ => Err(OutputError::download(
            "the output URL uses the file: scheme outside genq's spool; only http and https \
             URLs are downloaded"
                .to_string(),
        )),
    }
}

/// Copies a result kept in the spool into `tmp`, with the checks a download gets.
async fn take_spooled(
    path: &Path,
    shown: &str,
    expect: Expected,
    tmp: &Path,
    max_bytes: u64,
) -> Result<Downloaded, OutputError> {
    let bytes = tokio::fs::read(path).await.map_err(|e| {
        OutputError::download(format!("{shown} ({}) cannot be read: {e}", path.display()))
    })?;
    if bytes.len() as u64 > max_bytes {
        return Err(OutputError::download(format!(
            "{shown} is {}, larger than the {} limit (outputs.max_bytes)",
            mib(bytes.len() as u64),
            mib(max_bytes)
        )));
    }
    let file_type = check_magic(&bytes[..bytes.len().min(detect::SNIFF_LEN)], expect, shown)?;
    tokio::fs::write(tmp, &bytes)
        .await
        .map_err(|e| OutputError::local(format!("cannot write {}: {e}", tmp.display())))?;
    Ok(Downloaded {
        sha256: hex(&Sha256::digest(&bytes)),
        size: bytes.len() as u64,
        file_type,
    })
}

struct Downloaded {
    sha256: String,
    size: u64,
    file_type: FileType,
}

fn check_url(url: &str) -> Result<reqwest::Url, OutputError> {
    let parsed = reqwest::Url::parse(url).map_err(|e| {
        OutputError::download(format!(
            "the output URL is not a valid URL ({e}); nothing was downloaded"
        ))
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(OutputError::download(format!(
            "the output URL uses the {other}: scheme; only http and https URLs are downloaded"
        ))),
    }
}

/// A URL as shown in messages: no user info, no query string (signed URLs carry signatures
/// and access key ids there).
fn shown_url(u: &reqwest::Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{}://{host}:{p}{}", u.scheme(), u.path()),
        None => format!("{}://{host}{}", u.scheme(), u.path()),
    }
}

/// The innermost cause of an error, which names the failure without the URL.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

fn send_error(e: &reqwest::Error, shown: &str) -> OutputError {
    let cause = root_cause(e);
    if e.is_redirect() || e.is_builder() {
        if cause.contains("scheme") {
            return OutputError::download(format!(
                "{shown} redirected to a URL that is not http or https; only http and https \
                 downloads are allowed"
            ));
        }
        return OutputError::download(format!(
            "{shown}: the redirect cannot be followed ({cause})"
        ));
    }
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    OutputError::download_retryable(format!("downloading {shown}: {what} ({cause})"))
}

fn status_error(status: reqwest::StatusCode, shown: &str) -> OutputError {
    let code = status.as_u16();
    let reason = status.canonical_reason().unwrap_or("");
    let e = match code {
        401 | 403 => OutputError::download(format!(
            "HTTP {code} {reason} from {shown}: the link expired or was refused (provider links \
             are short-lived)"
        )),
        404 | 410 => OutputError::download(format!(
            "HTTP {code} {reason} from {shown}: the file is not there (the link may have expired)"
        )),
        408 | 429 | 500..=599 => {
            OutputError::download_retryable(format!("HTTP {code} {reason} from {shown}"))
        }
        _ => OutputError::download(format!("HTTP {code} {reason} from {shown}")),
    };
    e.with_status(code)
}

fn check_magic(head: &[u8], expect: Expected, shown: &str) -> Result<FileType, OutputError> {
    match detect::sniff(head) {
        Some(t) if expect.accepts(t) => Ok(t),
        Some(t) => Err(OutputError::verify(format!(
            "expected {} but {shown} sent {}",
            expect.describe(),
            detect::type_name(t)
        ))),
        None => Err(OutputError::verify(format!(
            "expected {} but {shown} sent {}",
            expect.describe(),
            detect::describe_other(head)
        ))),
    }
}

fn mib(n: u64) -> String {
    format!("{:.1} MiB", n as f64 / (1024.0 * 1024.0))
}

/// What the response head says before any byte is written: an http(s) answer that is a
/// success and not over the size cap. The announced length, when there is one.
fn check_response(
    resp: &reqwest::Response,
    shown: &str,
    max_bytes: u64,
) -> Result<Option<u64>, OutputError> {
    let not_http = |scheme: &str| {
        OutputError::download(format!(
            "{shown} redirected to a {scheme}: URL, which is not http or https; only http and https downloads are allowed"
        ))
    };
    if !matches!(resp.url().scheme(), "http" | "https") {
        return Err(not_http(resp.url().scheme()));
    }
    let status = resp.status();
    if status.is_redirection() {
        // A client that does not follow redirects handed the redirect back.
        let to = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|l| resp.url().join(l).ok());
        return Err(match to {
            Some(u) if !matches!(u.scheme(), "http" | "https") => not_http(u.scheme()),
            _ => OutputError::download(format!(
                "{shown} answered with redirect {status} that was not followed"
            )),
        });
    }
    if !status.is_success() {
        return Err(status_error(status, shown));
    }
    let declared = resp.content_length();
    if let Some(n) = declared
        && n > max_bytes
    {
        return Err(OutputError::download(format!(
            "{shown} is {} ({n} bytes), larger than the {} limit (outputs.max_bytes)",
            mib(n),
            mib(max_bytes)
        )));
    }
    Ok(declared)
}

async fn download(
    http: &reqwest::Client,
    url: reqwest::Url,
    shown: &str,
    expect: Expected,
    tmp: &Path,
    max_bytes: u64,
) -> Result<Downloaded, OutputError> {
    let resp = http
        .get(url)
        .send()
        .await
        .map_err(|e| send_error(&e, shown))?;
    let declared = check_response(&resp, shown, max_bytes)?;
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(tmp)
        .await
        .map_err(|e| OutputError::local(format!("cannot create {}: {e}", tmp.display())))?;
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut received: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(detect::SNIFF_LEN);
    let mut file_type = None;
    let write_err =
        |e: std::io::Error| OutputError::local(format!("cannot write {}: {e}", tmp.display()));
    let mut body = resp.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| match declared {
            Some(n) if received < n => OutputError::download_retryable(format!(
                "{shown}: the body was truncated: received {received} of the {n} bytes announced"
            )),
            _ => OutputError::download_retryable(format!(
                "{shown}: the connection broke after {received} bytes ({})",
                root_cause(&e)
            )),
        })?;
        received += chunk.len() as u64;
        if received > max_bytes {
            return Err(OutputError::download(format!(
                "{shown} is larger than the {} limit (outputs.max_bytes); stopped after {received} bytes",
                mib(max_bytes)
            )));
        }
        if file_type.is_none() {
            let take = (detect::SNIFF_LEN - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..take]);
            if head.len() >= detect::SNIFF_LEN {
                // Stop early when the server sent something else (an error page).
                file_type = Some(check_magic(&head, expect, shown)?);
            }
        }
        hasher.update(&chunk);
        out.write_all(&chunk).await.map_err(write_err)?;
    }
    out.flush().await.map_err(write_err)?;
    if let Some(n) = declared
        && n != received
    {
        return Err(OutputError::download_retryable(format!(
            "{shown}: the body was truncated: received {received} of the {n} bytes announced"
        )));
    }
    let file_type = match file_type {
        Some(t) => t,
        None => check_magic(&head, expect, shown)?,
    };
    Ok(Downloaded {
        sha256: hex(&hasher.finalize()),
        size: received,
        file_type,
    })
}

/// Content checks, the optional PNG chunk, fsync, rename, fsync of the directory.
fn finish(
    mut guard: TempGuard,
    got: Downloaded,
    dir: &Path,
    index: u32,
    png_params: Option<&str>,
) -> Result<OutputFile, OutputError> {
    let t = got.file_type;
    let dims = check_content(guard.path(), t).map_err(OutputError::verify)?;
    let (mut sha256, mut size) = (got.sha256, got.size);
    if t == FileType::Png
        && let Some(json) = png_params
    {
        let with_text = TempGuard::new(temp_path(dir, &index.to_string()));
        let (s, n) =
            png_text::copy_with_params(guard.path(), with_text.path(), json).map_err(|e| {
                let message = format!("cannot add the parameters to the PNG: {e}");
                if e.kind() == std::io::ErrorKind::InvalidData {
                    OutputError::verify(message)
                } else {
                    OutputError::local(message)
                }
            })?;
        (sha256, size) = (s, n);
        guard = with_text; // the plain copy is removed as the old guard drops
    }
    let io_err = |what: &str, e: std::io::Error| OutputError::local(format!("{what}: {e}"));
    std::fs::File::open(guard.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| io_err("cannot sync the downloaded file", e))?;
    let final_path: PathBuf = dir.join(format!("{index}.{}", t.ext()));
    std::fs::rename(guard.path(), &final_path)
        .map_err(|e| io_err(&format!("cannot rename into {}", final_path.display()), e))?;
    guard.keep();
    sync_dir(dir).map_err(|e| io_err(&format!("cannot sync {}", dir.display()), e))?;
    Ok(output_file(final_path, sha256, size, t, dims))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_urls_drop_queries_and_user_info() {
        let u =
            reqwest::Url::parse("https://user:pw@h.example:8443/a/b.png?Signature=x#f").unwrap();
        assert_eq!(shown_url(&u), "https://h.example:8443/a/b.png");
    }

    #[test]
    fn only_http_urls_are_accepted() {
        assert!(
            check_url("file:///etc/passwd")
                .unwrap_err()
                .message
                .contains("file:")
        );
        assert!(check_url("ftp://x/y").is_err());
        assert!(check_url("https://x/y").is_ok());
    }
}
