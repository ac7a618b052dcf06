//! Helpers every adaptor uses to read HTTP replies: classifying statuses, reading
//! `Retry-After`, and turning transport errors into retryable provider errors.

use super::ProviderError;
use genq_protocol::JobErrorKind;
use std::time::Duration;

/// `Retry-After` in seconds (the HTTP-date form is rare on these APIs and ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|s| *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// A request that never got an HTTP reply: always worth retrying. The message keeps the
/// URL's path but never a query string (signed URLs) or headers (keys).
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
    let url = err
        .url()
        .map(|u| format!(" ({}{})", u.host_str().unwrap_or(""), u.path()))
        .unwrap_or_default();
    ProviderError::retryable(JobErrorKind::Network, format!("{what}{url}"))
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
    e
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

    /// The start of the body on one line, for error messages about replies that are not JSON.
    pub fn snippet(&self) -> String {
        body_snippet(&String::from_utf8_lossy(&self.body))
    }
}

/// Sends one request and reads the whole reply. Transport failures (no reply, a reply cut
/// off) become retryable errors.
pub async fn send(request: reqwest::RequestBuilder) -> Result<Reply, ProviderError> {
    let response = request.send().await.map_err(|e| transport_error(&e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| transport_error(&e))?;
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// At most 200 characters of a body, whitespace collapsed, for error messages.
pub fn body_snippet(text: &str) -> String {
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

/// The error for a call made without a key: final, kind `auth`, naming where to put one.
pub fn missing_key(provider: &str, env_vars: &[&str]) -> ProviderError {
    let env = match env_vars {
        [] => String::new(),
        [one] => format!("set {one}, or "),
        [first, rest @ ..] => format!("set {first} (or {}), or ", rest.join(", ")),
    };
    ProviderError::final_error(
        JobErrorKind::Auth,
        format!(
            "no API key for {provider}: {env}set api_key_env, api_key_cmd or api_key under \
             [providers.{provider}] in config.toml"
        ),
    )
}

/// A 2xx reply whose body is not the JSON the provider documents: usually a proxy or a
/// reply cut short, so worth another try.
pub fn malformed(provider: &str, reply: &Reply) -> ProviderError {
    ProviderError::retryable(
        JobErrorKind::Provider,
        format!(
            "{provider} sent a reply that is not the expected JSON (HTTP {}): {}",
            reply.status.as_u16(),
            reply.snippet()
        ),
    )
}

/// A JSON string or number as text (ids and codes come as either).
pub fn text_of(v: Option<&serde_json::Value>) -> Option<String> {
    match v? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_encodes_segments_and_keeps_the_base_path() {
        let u = endpoint("http://127.0.0.1:9/prefix", &["v1", "tasks", "a/b?c"]).unwrap();
        assert_eq!(u.as_str(), "http://127.0.0.1:9/prefix/v1/tasks/a%2Fb%3Fc");
        let u = endpoint("https://api.example", &["v1", "tasks", "42"]).unwrap();
        assert_eq!(u.as_str(), "https://api.example/v1/tasks/42");
        assert!(endpoint("not a url", &["x"]).is_err());
    }

    #[test]
    fn missing_key_names_every_place_to_set_one() {
        let e = missing_key(
            "modelscope",
            &["MODELSCOPE_API_TOKEN", "MODELSCOPE_API_KEY"],
        );
        assert_eq!(e.kind, JobErrorKind::Auth);
        assert!(!e.retryable);
        for s in [
            "MODELSCOPE_API_TOKEN",
            "MODELSCOPE_API_KEY",
            "[providers.modelscope]",
        ] {
            assert!(e.message.contains(s), "{}", e.message);
        }
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
