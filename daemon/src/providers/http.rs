//! What every adaptor shares to talk HTTP: building a keyed request ([`authed`]), sending it
//! and reading the reply ([`send`], which caps its size and removes the sent key from it),
//! classifying statuses, reading `Retry-After`, and turning transport errors into retryable
//! provider errors. Every error says whether the provider may have acted on the request
//! (`maybe_accepted`).

use super::adaptor::{CallContext, ProviderError, ProviderInfo};
use super::redact;
use crate::secret::Secret;
use genq_protocol::JobErrorKind;
use std::time::Duration;

/// The largest API reply read. The documented replies are a few KB; anything near this is a
/// fault (or a hostile server), and reading on would only fill memory. Output downloads
/// have their own cap.
pub const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A request that never got an HTTP reply: always worth retrying. Only a failed connect
/// proves the request was not sent; after that (a timeout, a connection cut, a reply cut
/// off) the provider may have acted on it. The message keeps the URL's path but never a
/// query string (signed URLs) or headers (keys).
pub fn transport_error(err: &reqwest::Error) -> ProviderError {
    let what = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "could not connect"
    } else if err.is_decode() || err.is_body() {
        "reply was cut off or unreadable"
    } else {
        "request failed"
    };
    let url = err.url().map(where_to).unwrap_or_default();
    let mut e = ProviderError::retryable(JobErrorKind::Network, format!("{what}{url}"));
    e.maybe_accepted = !err.is_connect() && !err.is_builder();
    e
}

/// ` (host/path)` of a URL for messages: never its query (signed URLs carry secrets there).
fn where_to(url: &reqwest::Url) -> String {
    format!(" ({}{})", url.host_str().unwrap_or(""), url.path())
}

/// The generic meaning of an HTTP status, for adaptors to refine with the body.
pub fn classify_status(status: reqwest::StatusCode, message: String) -> ProviderError {
    let code = status.as_u16();
    let mut e = match code {
        401 | 403 => ProviderError::final_error(JobErrorKind::Auth, message),
        400 | 422 => ProviderError::final_error(JobErrorKind::InvalidParams, message),
        404 => ProviderError::final_error(JobErrorKind::NotFound, message),
        429 => ProviderError::retryable(JobErrorKind::Quota, message),
        500..=599 => ProviderError::retryable(JobErrorKind::Provider, message),
        _ => ProviderError::final_error(JobErrorKind::Provider, message),
    };
    e.rate_limited = code == 429;
    // A 5xx may come after the provider has done the work; a 4xx is a refusal.
    e.maybe_accepted = status.is_server_error();
    e
}

/// A `method` request to `{base}/{segments…}` carrying the key as a bearer token.
pub fn authed(
    ctx: &CallContext,
    method: reqwest::Method,
    base: &str,
    segments: &[&str],
    key: &Secret,
) -> Result<reqwest::RequestBuilder, ProviderError> {
    let url = endpoint(base, segments)?;
    Ok(ctx.http.request(method, url).bearer_auth(key.expose()))
}

/// [`authed`] to the configured base URL, with the provider's key; refused before anything is
/// sent when no key is configured.
pub fn keyed(
    ctx: &CallContext,
    info: &ProviderInfo,
    method: reqwest::Method,
    segments: &[&str],
) -> Result<reqwest::RequestBuilder, ProviderError> {
    authed(ctx, method, &ctx.base_url, segments, ctx.require_key(info)?)
}

/// A reply read in full: status, headers and body bytes.
pub struct Reply {
    pub status: reqwest::StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    /// The body as JSON; `None` when it is not JSON (an HTML error page, a cut-off reply).
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// The body as the JSON object the provider documents, or the [`malformed`] error.
    pub fn json_or_malformed(&self, provider: &str) -> Result<serde_json::Value, ProviderError> {
        self.json().ok_or_else(|| malformed(provider, self))
    }

    /// What a reply that is not JSON says: the start of its body, or the status's reason
    /// when the body is empty.
    pub fn text(&self) -> String {
        if self.body.is_empty() {
            self.status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        } else {
            self.snippet()
        }
    }

    /// The start of the body on one line, for error messages about replies that are not JSON.
    /// Only the first 8 KiB are looked at, however large the reply.
    pub fn snippet(&self) -> String {
        let head = &self.body[..self.body.len().min(8 * 1024)];
        body_snippet(&String::from_utf8_lossy(head))
    }
}

/// Sends one request and reads the whole reply, up to [`MAX_REPLY_BYTES`]. Transport
/// failures (no reply, a reply cut off) become retryable errors. The credential the request
/// carried is masked in the reply, so a provider echoing it back cannot make it reach an
/// error message, a log or the database.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Reply, ProviderError> {
    send_capped(request, MAX_REPLY_BYTES).await
}

/// [`send`] with a reply cap of `cap` bytes, for replies that carry the results themselves
/// (images as base64).
pub async fn send_capped(
    request: reqwest::RequestBuilder,
    cap: usize,
) -> Result<Reply, ProviderError> {
    let (client, request) = request.build_split();
    let request = request.map_err(|e| transport_error(&e))?;
    let credential = sent_credential(request.headers());
    let url = request.url().clone();
    let response = client
        .execute(request)
        .await
        .map_err(|e| transport_error(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = read_capped(response, &url, cap).await?;
    let body = match &credential {
        Some(secret) => redact::scrub_bytes(body, secret.as_bytes()),
        None => body,
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// The token of the request's `Authorization` header (its whole value for other schemes).
fn sent_credential(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let value = headers.get(reqwest::header::AUTHORIZATION)?.to_str().ok()?;
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => value,
    };
    Some(token.trim().to_string()).filter(|t| !t.is_empty())
}

/// The body, read chunk by chunk so that an endless reply stops at the cap instead of
/// filling memory.
async fn read_capped(
    mut response: reqwest::Response,
    url: &reqwest::Url,
    cap: usize,
) -> Result<bytes::Bytes, ProviderError> {
    if response.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large(url, cap));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport_error(&e))? {
        if body.len() + chunk.len() > cap {
            return Err(too_large(url, cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.into())
}

/// A reply over [`MAX_REPLY_BYTES`]: left unread. Retryable (a proxy fault may pass), and
/// the provider may have acted on the request.
fn too_large(url: &reqwest::Url, cap: usize) -> ProviderError {
    let mut e = ProviderError::retryable(
        JobErrorKind::Provider,
        format!(
            "the reply{} is larger than the {} MiB allowed for API replies; it was not read",
            where_to(url),
            cap / (1024 * 1024)
        ),
    );
    e.maybe_accepted = true;
    e
}

/// At most 200 characters of a body, whitespace collapsed, for error messages; credentials
/// in it are masked.
pub fn body_snippet(text: &str) -> String {
    let text = redact::scrub(text, &[]);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// `{base}/{segments…}` with each segment percent-encoded, so a task id can never change
/// the path or add a query.
pub fn endpoint(base: &str, segments: &[&str]) -> Result<reqwest::Url, ProviderError> {
    let bad = || {
        ProviderError::final_error(
            JobErrorKind::Internal,
            format!("base URL {base:?} cannot be used as an API endpoint"),
        )
    };
    let mut url = reqwest::Url::parse(base).map_err(|_| bad())?;
    url.path_segments_mut()
        .map_err(|_| bad())?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// A 2xx reply whose body is not the JSON the provider documents: usually a proxy or a
/// reply cut short, so worth another try, but the provider may have acted on the request.
pub fn malformed(provider: &str, reply: &Reply) -> ProviderError {
    let mut e = ProviderError::retryable(
        JobErrorKind::Provider,
        format!(
            "{provider} sent a reply that is not the expected JSON (HTTP {}): {}",
            reply.status.as_u16(),
            reply.snippet()
        ),
    );
    e.maybe_accepted = true;
    e
}

/// A task's status word as the reply spells it, trimmed; empty when it is missing.
pub fn status_word<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v.get(key)
        .and_then(serde_json::Value::as_str)
        .unwrap_or("")
        .trim()
}

/// A JSON string or number as text (ids and codes come as either).
pub fn text_of(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A figure from a reply as people write it: `12`, not `12.0`.
pub fn plain_number(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        v.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::test_server::{Canned, TestServer};
    use tokio::io::AsyncReadExt;

    fn client(timeout: Duration) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().timeout(timeout).build().unwrap()
    }

    #[tokio::test]
    async fn a_refused_connection_was_not_sent() {
        let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .and_then(|l| l.local_addr())
            .unwrap();
        let http = client(Duration::from_secs(5));
        let e = send(http.post(format!("http://{addr}/task")))
            .await
            .err()
            .unwrap();
        assert_eq!((e.kind, e.retryable), (JobErrorKind::Network, true));
        assert!(!e.maybe_accepted, "{e:?}");
    }

    #[tokio::test]
    async fn a_request_sent_and_never_answered_may_have_been_accepted() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (read_tx, read_rx) = tokio::sync::oneshot::channel();
        // Reads the request, then holds the connection open without a word.
        let server = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4096];
            let n = conn.read(&mut buf).await.unwrap();
            let _ = read_tx.send(n);
            std::future::pending::<()>().await;
        });
        let http = client(Duration::from_millis(300));
        let e = send(http.post(format!("http://{addr}/task")).body("{}"))
            .await
            .err()
            .unwrap();
        assert!(read_rx.await.unwrap() > 0, "the request was sent");
        assert_eq!((e.kind, e.retryable), (JobErrorKind::Network, true));
        assert!(e.message.contains("timed out"), "{}", e.message);
        assert!(e.maybe_accepted, "{e:?}");
        server.abort();
    }

    #[test]
    fn a_5xx_may_have_been_accepted_and_a_4xx_was_refused() {
        let e = classify_status(reqwest::StatusCode::INTERNAL_SERVER_ERROR, "x".into());
        assert!(e.retryable && e.maybe_accepted);
        let e = classify_status(reqwest::StatusCode::TOO_MANY_REQUESTS, "x".into());
        assert!(e.retryable && e.rate_limited && !e.maybe_accepted);
        let e = classify_status(reqwest::StatusCode::BAD_REQUEST, "x".into());
        assert!(!e.retryable && !e.maybe_accepted);
    }

    #[tokio::test]
    async fn a_reply_over_the_cap_is_not_read() {
        let big = "x".repeat(MAX_REPLY_BYTES + 1);
        let server = TestServer::start(vec![Canned::json(200, &big)]).await;
        let http = client(Duration::from_secs(30));
        let e = send(http.get(format!("{}/tasks/1", server.base_url)))
            .await
            .err()
            .unwrap();
        assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
        assert!(e.message.contains("16 MiB"), "{}", e.message);
        assert!(e.maybe_accepted);
    }

    #[tokio::test]
    async fn the_sent_key_is_masked_in_the_reply() {
        let echo = r#"{"seen":"Bearer ms-key-0123456789","token":"ms-key-0123456789"}"#;
        let server = TestServer::start(vec![Canned::json(400, echo)]).await;
        let http = client(Duration::from_secs(5));
        let request = http
            .post(format!("{}/task", server.base_url))
            .bearer_auth("ms-key-0123456789");
        let reply = send(request).await.unwrap();
        let body = String::from_utf8_lossy(&reply.body).into_owned();
        assert_eq!(body, r#"{"seen":"Bearer ***","token":"***"}"#);
    }

    #[test]
    fn endpoint_encodes_segments_and_keeps_the_base_path() {
        let u = endpoint("http://127.0.0.1:9/prefix", &["v1", "tasks", "a/b?c"]).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/prefix/v1/tasks/a%2Fb%3Fc");
        let u = endpoint("https://api.example", &["v1", "tasks", "42"]).unwrap();
        assert_eq!(u.as_str(), "https://api.example/v1/tasks/42");
        assert!(endpoint("not a url", &["x"]).is_err());
    }

    #[test]
    fn snippets_are_short_and_on_one_line() {
        assert_eq!(
            body_snippet("<html>\n  <b>bad</b>\n</html>"),
            "<html> <b>bad</b> </html>"
        );
        let long = "x".repeat(500);
        assert_eq!(body_snippet(&long).chars().count(), 201);
    }
}
