//! A fake OpenAI Images API (openai-images.md): `POST /v1/images/generations` (JSON) and
//! `/v1/images/edits` (multipart) answer synchronously with real PNGs, as `b64_json` (GPT
//! image models always; dall-e with `response_format: b64_json`) or as signed URLs served by
//! the fake that expire; `GET /v1/models`; errors in OpenAI's shape
//! `{"error": {"message", "type", "param", "code"}}` (401 `invalid_api_key`, 400 with the
//! `param`, 400 `content_policy_violation` / `moderation_blocked`, 429 `rate_limit_exceeded`
//! with `retry-after`, 429 `insufficient_quota`, 500 `server_error`), `x-request-id` on
//! every reply. The shared faults (slow, 500, accept then fail, …) apply.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use super::common::{
    Part, bearer, char_len, json_reply, lock, make_png, multipart, new_request_id, png_reply,
    set_header, unix_secs, with_retry_after,
};
use super::control::{Core, Endpoint};
use super::server::{Fake, Provider, Served};

/// A running fake OpenAI-compatible server.
pub type OpenAiFake = Fake<OaState>;

/// A prompt containing this is refused by the fake's moderation.
pub const FORBIDDEN_WORD: &str = "forbidden";

const GENERATIONS: &str = "/v1/images/generations";
const EDITS: &str = "/v1/images/edits";
const OUTPUT_PREFIX: &str = "/oa-output/";

/// The fake's state: issued images and its switches.
#[derive(Debug)]
pub struct OaState {
    core: Core,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Ids served at `/v1/models`; `None`: the route is not offered (404).
    models: Option<Vec<String>>,
    /// Images served at their URL: id → (signature, png, issued).
    files: HashMap<String, (String, Bytes, Instant)>,
    /// Images made (each is billed).
    generated: usize,
    quota_spent: bool,
}

impl Served for OaState {
    const NAME: &'static str = "OpenAI";
    /// OpenAI's URLs are "only valid for 60 minutes".
    const URL_TTL: Duration = Duration::from_secs(3600);

    fn new(core: Core) -> Self {
        core.set_key(format!("sk-proj-{}", uuid::Uuid::now_v7().simple()));
        OaState {
            core,
            inner: Mutex::new(Inner {
                models: Some(vec![
                    "gpt-image-1".into(),
                    "dall-e-3".into(),
                    "dall-e-2".into(),
                ]),
                files: HashMap::new(),
                generated: 0,
                quota_spent: false,
            }),
        }
    }

    fn router() -> Router<Arc<Self>> {
        Router::new()
            .route(GENERATIONS, post(generations))
            .route(EDITS, post(edits))
            .route("/v1/models", get(models))
            .route("/oa-output/{file}", get(download))
    }
}

impl Provider for OaState {
    fn core(&self) -> &Core {
        &self.core
    }

    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>) {
        if method == Method::POST && (path == GENERATIONS || path == EDITS) {
            (Endpoint::Submit, None)
        } else if path == "/v1/models" {
            (Endpoint::Poll, None)
        } else if let Some(file) = path.strip_prefix(OUTPUT_PREFIX) {
            (
                Endpoint::Download,
                Some(file.trim_end_matches(".png").into()),
            )
        } else {
            (Endpoint::Other, None)
        }
    }

    fn rate_limited(&self, _endpoint: Endpoint, retry_after: Option<u64>) -> Response {
        let reply = error(
            StatusCode::TOO_MANY_REQUESTS,
            "Rate limit exceeded for images per minute in organization org-fake. Limit: 5/1min.",
            "requests",
            None,
            Some("rate_limit_exceeded"),
        );
        with_retry_after(reply, retry_after)
    }

    fn server_error(&self, _endpoint: Endpoint, status: StatusCode) -> Response {
        error(
            status,
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        )
    }
}

impl OpenAiFake {
    /// Ids listed at `/v1/models`; `None` stops offering the route (404), as many gateways.
    pub fn set_models(&self, models: Option<Vec<String>>) {
        lock(&self.state().inner).models = models;
    }

    /// Every later generation gets 429 `insufficient_quota` (no `retry-after`).
    pub fn set_quota_spent(&self, spent: bool) {
        lock(&self.state().inner).quota_spent = spent;
    }

    /// Images made so far, each of them billed.
    pub fn generated(&self) -> usize {
        lock(&self.state().inner).generated
    }
}

/// OpenAI's error body, with an `x-request-id`.
fn error(
    status: StatusCode,
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Response {
    with_request_id(json_reply(
        status,
        &json!({"error": {"message": message, "type": kind, "param": param, "code": code}}),
    ))
}

fn invalid(param: &str, message: String) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        &message,
        "invalid_request_error",
        Some(param),
        None,
    )
}

fn with_request_id(mut reply: Response) -> Response {
    set_header(
        reply.headers_mut(),
        "x-request-id",
        &format!("req_{}", new_request_id().replace('-', "")),
    );
    reply
}

/// The family rules of §2: prompt length, `n`, sizes, and which fields a model takes.
struct Family {
    prompt_max: usize,
    n_max: u64,
    sizes: Option<&'static [&'static str]>,
    /// Allowed values of each enum field the family takes.
    fields: &'static [(&'static str, &'static [&'static str])],
    gpt_image: bool,
}

fn family(model: &str) -> Family {
    if model.starts_with("gpt-image") {
        Family {
            prompt_max: 32000,
            n_max: 10,
            sizes: Some(&["1024x1024", "1536x1024", "1024x1536", "auto"]),
            fields: &[
                ("quality", &["low", "medium", "high", "auto"]),
                ("background", &["transparent", "opaque", "auto"]),
                ("output_format", &["png", "jpeg", "webp"]),
                ("moderation", &["low", "auto"]),
            ],
            gpt_image: true,
        }
    } else if model == "dall-e-3" {
        Family {
            prompt_max: 4000,
            n_max: 1,
            sizes: Some(&["1024x1024", "1792x1024", "1024x1792"]),
            fields: &[
                ("quality", &["standard", "hd"]),
                ("style", &["vivid", "natural"]),
                ("response_format", &["url", "b64_json"]),
            ],
            gpt_image: false,
        }
    } else if model == "dall-e-2" {
        Family {
            prompt_max: 1000,
            n_max: 10,
            sizes: Some(&["256x256", "512x512", "1024x1024"]),
            fields: &[("response_format", &["url", "b64_json"])],
            gpt_image: false,
        }
    } else {
        // A gateway's own model: any WxH from 64 to 2048 a side.
        Family {
            prompt_max: 32000,
            n_max: 4,
            sizes: None,
            fields: &[("response_format", &["url", "b64_json"])],
            gpt_image: false,
        }
    }
}

/// Checks a request's fields as OpenAI does; the refusal names the `param`.
fn check(body: &Map<String, Value>) -> Result<(String, Family), Box<Response>> {
    let model = body
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or("dall-e-2")
        .to_string();
    let f = family(&model);
    let prompt = body.get("prompt").and_then(Value::as_str).unwrap_or("");
    if prompt.is_empty() {
        return Err(Box::new(invalid(
            "prompt",
            "Missing required parameter: 'prompt'.".into(),
        )));
    }
    if char_len(prompt) > f.prompt_max {
        return Err(Box::new(invalid(
            "prompt",
            format!(
                "Invalid 'prompt': string too long. Expected a string with maximum length {}.",
                f.prompt_max
            ),
        )));
    }
    let n = body
        .get("n")
        .map(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
    if let Some(n) = n
        && !n.is_some_and(|n| (1..=f.n_max).contains(&n))
    {
        return Err(Box::new(invalid(
            "n",
            format!("Invalid 'n': must be between 1 and {}.", f.n_max),
        )));
    }
    if let Some(size) = body.get("size").and_then(Value::as_str) {
        let ok = match f.sizes {
            Some(list) => list.contains(&size),
            None => size.split_once('x').is_some_and(|(w, h)| {
                [w, h]
                    .iter()
                    .all(|s| s.parse::<u32>().is_ok_and(|v| (64..=2048).contains(&v)))
            }),
        };
        if !ok {
            return Err(Box::new(invalid(
                "size",
                format!("Invalid size '{size}' for {model}."),
            )));
        }
    }
    if f.gpt_image && body.contains_key("response_format") {
        return Err(Box::new(invalid(
            "response_format",
            format!("Unknown parameter: 'response_format' is not supported with {model}."),
        )));
    }
    for (key, value) in body {
        if matches!(
            key.as_str(),
            "model" | "prompt" | "n" | "size" | "user" | "output_compression"
        ) {
            continue;
        }
        let Some((_, allowed)) = f.fields.iter().find(|(k, _)| k == key) else {
            // Gateways take their own extras (seed, negative_prompt, …) as given.
            if f.sizes.is_none() {
                continue;
            }
            return Err(Box::new(invalid(
                key,
                format!("Unknown parameter: '{key}'."),
            )));
        };
        if !value.as_str().is_some_and(|v| allowed.contains(&v)) {
            return Err(Box::new(invalid(
                key,
                format!(
                    "Invalid value: {value}. Supported values are: {}.",
                    allowed.join(", ")
                ),
            )));
        }
    }
    if prompt.contains(FORBIDDEN_WORD) {
        let (kind, code, message) = if f.gpt_image {
            (
                "image_generation_user_error",
                "moderation_blocked",
                "Your request was rejected by the safety system.",
            )
        } else {
            (
                "invalid_request_error",
                "content_policy_violation",
                "Your request was rejected as a result of our safety system.",
            )
        };
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            message,
            kind,
            None,
            Some(code),
        )));
    }
    Ok((model, f))
}

/// The key check every API route makes first.
fn authorized(state: &OaState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    match bearer(headers) {
        Some(k) if state.core.accepts(k) => Ok(()),
        _ => Err(Box::new(error(
            StatusCode::UNAUTHORIZED,
            "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ))),
    }
}

/// Makes the images of a checked request and the reply that carries them.
fn generate(state: &OaState, body: &Map<String, Value>, model: &str, f: &Family) -> Response {
    let mut inner = lock(&state.inner);
    if inner.quota_spent {
        drop(inner);
        return error(
            StatusCode::TOO_MANY_REQUESTS,
            "You exceeded your current quota, please check your plan and billing details.",
            "insufficient_quota",
            None,
            Some("insufficient_quota"),
        );
    }
    let n = body
        .get("n")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .unwrap_or(1);
    let as_url =
        !f.gpt_image && body.get("response_format").and_then(Value::as_str) != Some("b64_json");
    let mut data = Vec::new();
    for _ in 0..n {
        inner.generated += 1;
        let png = make_png(&format!("openai-{}", inner.generated));
        if as_url {
            let id = uuid::Uuid::now_v7().simple().to_string();
            let sig = uuid::Uuid::now_v7().simple().to_string();
            let url = format!(
                "{}{OUTPUT_PREFIX}{id}.png?st=2026-01-01T00%3A00%3A00Z&se=2026-01-01T01%3A00%3A00Z&sig={sig}",
                state.core.base_url()
            );
            inner.files.insert(id, (sig, png, Instant::now()));
            let mut item = json!({"url": url});
            if model == "dall-e-3" {
                item["revised_prompt"] = json!(format!(
                    "A detailed rendering: {}",
                    body["prompt"].as_str().unwrap_or("")
                ));
            }
            data.push(item);
        } else {
            data.push(json!({"b64_json": base64::engine::general_purpose::STANDARD.encode(&png)}));
        }
    }
    let created = unix_secs(std::time::SystemTime::now());
    let mut reply = json!({"created": created, "data": data});
    if f.gpt_image {
        reply["background"] = json!("opaque");
        reply["output_format"] = json!("png");
        reply["quality"] = json!(
            body.get("quality")
                .and_then(Value::as_str)
                .unwrap_or("medium")
        );
        reply["size"] = json!("1024x1024");
        reply["usage"] = json!({"input_tokens": 14, "input_tokens_details": {"image_tokens": 0, "text_tokens": 14}, "output_tokens": 1056, "total_tokens": 1070});
    }
    with_request_id(json_reply(StatusCode::OK, &reply))
}

async fn generations(
    State(state): State<Arc<OaState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return *r;
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return invalid(
            "body",
            "We could not parse the JSON body of your request.".into(),
        );
    };
    match check(&body) {
        Ok((model, f)) => generate(&state, &body, &model, &f),
        Err(r) => *r,
    }
}

async fn edits(State(state): State<Arc<OaState>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return *r;
    }
    let Some(parts) = multipart(&headers, &body) else {
        return invalid("image", "Expected a multipart/form-data body.".into());
    };
    let mut fields = Map::new();
    let mut images = 0;
    for Part {
        name,
        content: value,
        ..
    } in parts
    {
        if name == "image" || name == "image[]" {
            if !(value.starts_with(b"\x89PNG")
                || value.starts_with(&[0xFF, 0xD8])
                || value.starts_with(b"RIFF"))
            {
                return invalid(
                    "image",
                    "Invalid image file. Supported formats are png, webp and jpg.".into(),
                );
            }
            images += 1;
        } else if name != "mask" {
            fields.insert(name, json!(String::from_utf8_lossy(&value)));
        }
    }
    if images == 0 {
        return invalid("image", "Missing required parameter: 'image'.".into());
    }
    match check(&fields) {
        Ok((model, f)) => generate(&state, &fields, &model, &f),
        Err(r) => *r,
    }
}

async fn models(State(state): State<Arc<OaState>>, headers: HeaderMap) -> Response {
    if let Err(r) = authorized(&state, &headers) {
        return *r;
    }
    let Some(ids) = lock(&state.inner).models.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "Invalid URL (GET /v1/models)",
            "invalid_request_error",
            Some(""),
            Some(""),
        );
    };
    let data: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1764000000, "owned_by": "system"}))
        .collect();
    with_request_id(json_reply(
        StatusCode::OK,
        &json!({"object": "list", "data": data}),
    ))
}

async fn download(
    State(state): State<Arc<OaState>>,
    Path(file): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ttl = state.core.url_ttl();
    let id = file.trim_end_matches(".png");
    let inner = lock(&state.inner);
    let Some((sig, png, issued)) = inner.files.get(id) else {
        return (StatusCode::NOT_FOUND, "BlobNotFound").into_response();
    };
    if q.get("sig") != Some(sig) || issued.elapsed() >= ttl {
        return (StatusCode::FORBIDDEN, "AuthenticationFailed").into_response();
    }
    png_reply(png.clone())
}
