//! OpenAI's replies: the images of a success (`data[].b64_json`, `data[].url`, or a
//! SiliconFlow-style `images[].url`; an empty string counts as absent) and the error shape
//! `{"error": {"message", "type", "param", "code"}}` mapped to genq's kinds.

use super::info::NAME;
use crate::providers::adaptor::ProviderError;
use crate::providers::http::{self, Reply};
use genq_protocol::JobErrorKind;
use serde_json::Value;

/// One image of a reply, before it is kept.
#[derive(Debug, PartialEq)]
pub enum ReplyImage {
    Base64(String),
    Url(String),
}

/// The request id a reply carries (`x-request-id`, or SiliconFlow's trace id).
pub fn request_id(reply: &Reply) -> Option<String> {
    ["x-request-id", "x-siliconcloud-trace-id"]
        .iter()
        .find_map(|h| reply.headers.get(*h)?.to_str().ok().map(str::to_string))
}

/// The images of a successful reply, or why there are none. A 2xx carrying an `error`
/// (some gateways do that) is that error.
pub fn images(reply: &Reply) -> Result<Vec<ReplyImage>, ProviderError> {
    let Some(body) = reply.json() else {
        return Err(billed(http::malformed(NAME, reply)));
    };
    if body.get("error").is_some_and(|e| !e.is_null()) {
        return Err(error(reply));
    }
    let text = |v: &Value, key: &str| {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let mut found = Vec::new();
    for item in ["data", "images"]
        .iter()
        .filter_map(|k| body.get(*k).and_then(Value::as_array))
        .flatten()
    {
        if let Some(b64) = text(item, "b64_json") {
            found.push(ReplyImage::Base64(b64));
        } else if let Some(url) = text(item, "url") {
            found.push(ReplyImage::Url(url));
        }
    }
    if found.is_empty() {
        return Err(ProviderError::final_error(
            JobErrorKind::Provider,
            format!("{NAME}: the reply holds no image: {}", reply.snippet()),
        ));
    }
    Ok(found)
}

/// The error a failed reply means. The `param` the server names becomes the field of an
/// `invalid_params` message; `Retry-After` is kept.
pub fn error(reply: &Reply) -> ProviderError {
    let body = reply.json().unwrap_or(Value::Null);
    let inner = body.get("error").filter(|e| e.is_object()).unwrap_or(&body);
    let word = |key: &str| http::text_of(inner.get(key)).unwrap_or_default();
    let (message, kind_word, code, param) =
        (word("message"), word("type"), word("code"), word("param"));
    let message = if message.is_empty() {
        reply.text()
    } else {
        message
    };
    let status = reply.status.as_u16();
    let status = if status < 400 { 400 } else { status };
    let status_code =
        reqwest::StatusCode::from_u16(status).unwrap_or(reqwest::StatusCode::BAD_REQUEST);
    let mut e = http::classify_status(status_code, format!("{NAME}: {message}"));
    let has = |w: &str| code.contains(w) || kind_word.contains(w);
    if has("content_policy") || has("moderation") || has("safety") {
        e = ProviderError::final_error(JobErrorKind::ContentPolicy, format!("{NAME}: {message}"));
    } else if has("insufficient_quota") || has("insufficient_user_quota") || has("billing") {
        e = ProviderError::final_error(JobErrorKind::Quota, format!("{NAME}: {message}"));
    } else if has("invalid_api_key") || status == 401 {
        e = ProviderError::final_error(JobErrorKind::Auth, format!("{NAME}: {message}"));
    } else if has("model_not_found") {
        e = ProviderError::final_error(JobErrorKind::InvalidParams, format!("model: {message}"));
    } else if e.kind == JobErrorKind::InvalidParams && !param.is_empty() {
        e = ProviderError::final_error(JobErrorKind::InvalidParams, format!("{param}: {message}"));
    } else if matches!(status, 408 | 409) {
        e = ProviderError::retryable(JobErrorKind::Provider, format!("{NAME}: {message}"));
        e.maybe_accepted = true;
    }
    e.retry_after = http::retry_after(&reply.headers);
    e.with_request_id(request_id(reply))
}

/// An unreadable answer to a generation: the images may have been made and billed.
fn billed(mut e: ProviderError) -> ProviderError {
    e.maybe_accepted = true;
    e
}

/// The image models of a `GET /v1/models` reply: those new-api marks with an image endpoint
/// type, else those whose id names an image family. `None` when the reply lists none (or
/// carries an error, as some gateways do with HTTP 200).
pub fn image_models(reply: &Reply) -> Option<Vec<String>> {
    let body = reply.json()?;
    if body.get("error").is_some_and(|e| !e.is_null()) {
        return None;
    }
    let is_image =
        |m: &Value, id: &str| match m.get("supported_endpoint_types").and_then(Value::as_array) {
            Some(types) => types
                .iter()
                .filter_map(Value::as_str)
                .any(|t| t.contains("image")),
            None => IMAGE_FAMILIES
                .iter()
                .any(|f| id.to_ascii_lowercase().contains(f)),
        };
    let ids: Vec<String> = body
        .get("data")?
        .as_array()?
        .iter()
        .filter_map(|m| {
            let id = m.get("id")?.as_str()?;
            is_image(m, id).then(|| id.to_string())
        })
        .collect();
    (!ids.is_empty()).then_some(ids)
}

/// Words in the ids of image models (a list also holds chat and embedding models).
const IMAGE_FAMILIES: [&str; 8] = [
    "image",
    "dall-e",
    "flux",
    "stable-diffusion",
    "sdxl",
    "kolors",
    "seedream",
    "imagen",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str, headers: &[(&'static str, &str)]) -> Reply {
        let mut map = reqwest::header::HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, v.parse().unwrap());
        }
        Reply {
            status: reqwest::StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: bytes::Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn images_come_from_every_shape_gateways_send() {
        // new-api builds replies with all three keys, unused ones as "".
        let r = reply(
            200,
            r#"{"created":1,"data":[{"url":"","b64_json":"aGk=","revised_prompt":""}]}"#,
            &[],
        );
        assert_eq!(images(&r).unwrap(), [ReplyImage::Base64("aGk=".into())]);
        // SiliconFlow's native reply.
        let r = reply(
            200,
            r#"{"images":[{"url":"https://x/1.png"}],"timings":{"inference":1}}"#,
            &[],
        );
        assert_eq!(
            images(&r).unwrap(),
            [ReplyImage::Url("https://x/1.png".into())]
        );
        // An error carried by a 200.
        let r = reply(
            200,
            r#"{"error":{"message":"no such model","type":"new_api_error","code":"model_not_found"}}"#,
            &[],
        );
        let e = images(&r).unwrap_err();
        assert_eq!(e.kind, JobErrorKind::InvalidParams);
        assert!(e.message.starts_with("model:"), "{}", e.message);
    }

    #[test]
    fn errors_map_to_kinds_naming_the_param_and_keeping_retry_after() {
        let body = |kind: &str, param: &str, code: &str| {
            format!(
                r#"{{"error":{{"message":"m","type":"{kind}","param":{param},"code":{code}}}}}"#
            )
        };
        let cases = [
            (
                400,
                body("invalid_request_error", r#""size""#, "null"),
                JobErrorKind::InvalidParams,
                "size: m",
            ),
            (
                401,
                body("invalid_request_error", "null", r#""invalid_api_key""#),
                JobErrorKind::Auth,
                "openai: m",
            ),
            (
                429,
                body("insufficient_quota", "null", r#""insufficient_quota""#),
                JobErrorKind::Quota,
                "openai: m",
            ),
            (
                403,
                body("new_api_error", r#""""#, "403"),
                JobErrorKind::Auth,
                "openai: m",
            ),
            (
                400,
                body(
                    "image_generation_user_error",
                    r#""""#,
                    r#""moderation_blocked""#,
                ),
                JobErrorKind::ContentPolicy,
                "openai: m",
            ),
        ];
        for (status, text, kind, message) in cases {
            let e = error(&reply(status, &text, &[]));
            assert_eq!((e.kind, e.message.as_str()), (kind, message), "{text}");
            assert!(!e.retryable, "{text}");
        }
        let e = error(&reply(
            429,
            &body("requests", "null", r#""rate_limit_exceeded""#),
            &[("retry-after", "7"), ("x-request-id", "req_1")],
        ));
        assert!(e.retryable && e.rate_limited && !e.maybe_accepted);
        assert_eq!(e.retry_after, Some(std::time::Duration::from_secs(7)));
        assert_eq!(e.request_id.as_deref(), Some("req_1"));
        let e = error(&reply(500, &body("server_error", "null", "null"), &[]));
        assert!(
            e.retryable && e.maybe_accepted,
            "a 500 may come after the images were made"
        );
    }
}
