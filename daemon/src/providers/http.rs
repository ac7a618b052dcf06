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
