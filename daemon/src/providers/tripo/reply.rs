//! Reading Tripo's replies: the `{"code":0,"data":{…}}` envelope, the trace id every reply
//! carries, and the error-code table (providers.md §3.5).

use crate::providers::adaptor::ProviderError;
use crate::providers::builtin_models::ProviderId;
use crate::providers::http::{self, Reply};
use genq_protocol::JobErrorKind;
use serde_json::Value;

const NAME: &str = ProviderId::Tripo.name();
/// The reply header that identifies a request to Tripo support.
pub const TRACE_HEADER: &str = "X-Tripo-Trace-ID";

pub(super) fn trace_id(reply: &Reply) -> Option<String> {
    reply
        .headers
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// `data` of a `{"code":0,"data":{…}}` reply; any other reply becomes a classified error.
pub(super) fn envelope(reply: &Reply) -> Result<Value, ProviderError> {
    let request_id = trace_id(reply);
    let Some(body) = reply.json() else {
        if reply.status.is_success() {
            return Err(http::malformed(NAME, reply).with_request_id(request_id));
        }
        let e = http::classify_status(
            reply.status,
            format!("{NAME}: HTTP {}: {}", reply.status.as_u16(), reply.text()),
        );
        return Err(e.with_request_id(request_id));
    };
    let code = body.get("code").and_then(Value::as_i64);
    if code == Some(0) && reply.status.is_success() {
        return match body.get("data") {
            Some(data) if data.is_object() => Ok(data.clone()),
            _ => Err(http::malformed(NAME, reply).with_request_id(request_id)),
        };
    }
    let message = http::text_of(body.get("message"));
    let suggestion = http::text_of(body.get("suggestion"));
    let mut e = classify(Some(reply), code, message.as_deref(), suggestion.as_deref());
    e.retry_after = http::retry_after(&reply.headers).or(e.retry_after);
    Err(e.with_request_id(request_id))
}

/// The error-code table of providers.md §3.5. `reply` is `None` for a task's own
/// `error_code`, which is always final.
pub(super) fn classify(
    reply: Option<&Reply>,
    code: Option<i64>,
    message: Option<&str>,
    suggestion: Option<&str>,
) -> ProviderError {
    let mut text = match (reply, code) {
        (Some(r), Some(c)) => format!("{NAME}: HTTP {} code {c}", r.status.as_u16()),
        (Some(r), None) => format!("{NAME}: HTTP {}", r.status.as_u16()),
        (None, Some(c)) => format!("{NAME}: error code {c}"),
        (None, None) => format!("{NAME}: error"),
    };
    let explained = match code {
        Some(2010) => Some(
            "the Tripo account has not enough credits for this task; top up the balance \
             (`genq providers` shows it)",
        ),
        Some(2000) => Some(
            "too many tasks queued or running on this Tripo account; waiting for one to finish",
        ),
        Some(2001) => Some("task not found: it does not exist under this API key"),
        Some(2008) => Some("refused by Tripo's content policy"),
        Some(1002) => Some("the API key was refused"),
        Some(1005) => Some("this API key is not allowed to do that"),
        _ => None,
    };
    for part in [explained, message, suggestion].into_iter().flatten() {
        if !part.trim().is_empty() {
            text.push_str(": ");
            text.push_str(part.trim());
        }
    }
    let mut e = match code {
        Some(1000 | 1001 | 2014) => ProviderError::retryable(JobErrorKind::Provider, text),
        Some(1002 | 1005) => ProviderError::final_error(JobErrorKind::Auth, text),
        Some(2000) => {
            let mut e = ProviderError::retryable(JobErrorKind::Quota, text);
            e.rate_limited = true;
            e
        }
        Some(2001) => ProviderError::final_error(JobErrorKind::NotFound, text),
        Some(2008) => ProviderError::final_error(JobErrorKind::ContentPolicy, text),
        Some(2010) => ProviderError::final_error(JobErrorKind::InsufficientCredits, text),
        Some(1003 | 1004 | 2002 | 2003 | 2004 | 2006 | 2007 | 2015 | 2017 | 2018 | 2019) => {
            ProviderError::final_error(JobErrorKind::InvalidParams, text)
        }
        _ => match reply {
            Some(r) if !r.status.is_success() => http::classify_status(r.status, text),
            _ => ProviderError::final_error(JobErrorKind::Provider, text),
        },
    };
    match reply {
        None => {
            e.retryable = false;
            e.rate_limited = false;
        }
        // Whatever the code says, a 5xx may come after the task was created.
        Some(r) => e.maybe_accepted = r.status.is_server_error() && !e.rate_limited,
    }
    e
}
