//! The OpenAI-compatible face: `POST /v1/images/generations` submits an ordinary genq job,
//! waits for it and answers in OpenAI's shape; `GET /v1/models` lists the catalog's image
//! models as `provider/model` and the `[http.models]` aliases. The job belongs to the daemon,
//! not to the request: a client that goes away leaves it running to the end.

use super::error::ApiError;
use super::files::{read_output, signed_link};
use super::state::Shared;
use crate::config::ModelTarget;
use crate::server::methods::jobs;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use genq_protocol::catalog::ModelsListParams;
use genq_protocol::methods::SubmitParams;
use genq_protocol::{Event, Job, JobKind, JobSpec, Lora, Size, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::broadcast;
use utoipa::ToSchema;

/// `POST /v1/images/generations` as OpenAI defines it, plus genq's own fields.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImageRequest {
    /// `provider/model` (`modelscope/Qwen/Qwen-Image`), a `[http.models]` alias, or absent
    /// for the catalog's default text-to-image model.
    pub model: Option<String>,
    pub prompt: String,
    /// How many images; what the model allows.
    pub n: Option<u32>,
    /// `WIDTHxHEIGHT`, or `auto` for the model's default.
    pub size: Option<String>,
    /// `url` (the default) or `b64_json`.
    pub response_format: Option<ResponseFormat>,
    /// Kept in the daemon's log only.
    pub user: Option<String>,
    /// Accepted for compatibility and not used.
    pub quality: Option<String>,
    /// Accepted for compatibility and not used.
    pub style: Option<String>,
    pub negative_prompt: Option<String>,
    pub seed: Option<i64>,
    pub steps: Option<u32>,
    pub guidance: Option<f64>,
    pub loras: Option<Vec<LoraParam>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseFormat {
    #[default]
    Url,
    B64Json,
}

/// A LoRA by repository id, weight 1.0 when absent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoraParam {
    pub repo: String,
    pub weight: Option<f64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImagesResponse {
    /// Unix seconds.
    pub created: i64,
    pub data: Vec<ImageData>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ImageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub b64_json: Option<String>,
    /// The storage target's public URL when the job uploaded to one, else a signed daemon
    /// link that works without a token until it expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// Generates images and waits for them.
#[utoipa::path(post, path = "/v1/images/generations", tag = "openai",
    request_body = ImageRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "The same key gives the same job")),
    responses(
        (status = 200, description = "The images", body = ImagesResponse),
        (status = 400, description = "A parameter is invalid; `param` names it", body = super::error::ErrorBody),
        (status = 401, description = "No valid bearer token", body = super::error::ErrorBody),
        (status = 404, description = "Unknown model", body = super::error::ErrorBody),
        (status = 429, description = "Quota or rate limit; see Retry-After", body = super::error::ErrorBody),
        (status = 502, description = "The provider failed; `code` is the failure's kind", body = super::error::ErrorBody),
        (status = 504, description = "The job did not finish in time; it keeps running", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn generate(State(st): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    match generate_inner(&st, &headers, &body).await {
        Ok(r) => Json(r).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn generate_inner(
    st: &Shared,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<ImagesResponse, ApiError> {
    let req: ImageRequest = parse_json(body)?;
    tracing::debug!(
        user = ?req.user,
        ignored_quality = ?req.quality,
        ignored_style = ?req.style,
        "HTTP image request"
    );
    let format = req.response_format.unwrap_or_default();
    let target = resolve_model(st, req.model.as_deref()).await?;
    refuse_while_paused(st, &target.provider)?;
    let spec = spec_of(req, target)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Listen before submitting, so the job's end cannot slip by.
    let live = st.server.engine.events();
    let job = jobs::submit(
        &st.server,
        SubmitParams {
            spec,
            idempotency_key: key,
        },
    )
    .await?;
    let wait = st.server.engine.config().http.wait_timeout;
    let job = wait_final(st, live, job, wait).await?;
    answer(st, headers, &job, format).await.map_err(|mut e| {
        e.job_id = Some(job.id.0.clone());
        e
    })
}

/// A provider that is slowing down after a 429 would hold a new job past the wait: say so
/// now, with how long, instead of making a job the client would give up on.
fn refuse_while_paused(st: &Shared, provider: &str) -> Result<(), ApiError> {
    let paused = st
        .server
        .engine
        .provider_limits(provider)
        .and_then(|l| l.snapshot().paused_for);
    match paused {
        Some(wait) => {
            let secs = wait.as_secs_f64().ceil() as u64;
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("{provider} is rate limiting genq; try again in {secs} s"),
            )
            .code("rate_limit_exceeded");
            e.retry_after = Some(secs.max(1));
            Err(e)
        }
        None => Ok(()),
    }
}

/// Parses a JSON body, naming the field at fault.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let field = if path == "." {
            inner
                .to_string()
                .split('`')
                .nth(1)
                .unwrap_or_default()
                .to_string()
        } else {
            path
        };
        let message = if field.is_empty() {
            format!("the body is not valid JSON for this request: {inner}")
        } else {
            format!("{field}: {inner}")
        };
        ApiError::invalid(&field, message)
    })
}

fn spec_of(req: ImageRequest, target: ModelTarget) -> Result<JobSpec, ApiError> {
    let size =
        match req.size.as_deref() {
            None | Some("auto") => None,
            Some(s) => Some(s.parse::<Size>().map_err(|e| {
                ApiError::invalid("size", format!("size: {e}")).code("invalid_size")
            })?),
        };
    let loras = req
        .loras
        .unwrap_or_default()
        .into_iter()
        .map(|l| Lora {
            repo: l.repo,
            weight: l.weight.unwrap_or(1.0),
        })
        .collect();
    Ok(JobSpec {
        provider: target.provider,
        kind: Some(JobKind::Image),
        model: Some(target.model),
        prompt: req.prompt,
        negative_prompt: req.negative_prompt,
        size,
        seed: req.seed,
        steps: req.steps,
        guidance: req.guidance,
        loras,
        n: req.n,
        ..JobSpec::default()
    })
}

/// `provider/model`, an alias, or the default text-to-image model; 404 when the catalog does
/// not hold it.
async fn resolve_model(st: &Shared, name: Option<&str>) -> Result<ModelTarget, ApiError> {
    let store = st.server.engine.store();
    let target = match name.filter(|n| !n.is_empty()) {
        None => {
            let default = store.default_model("text_to_image".into()).await;
            let model = default.map_err(|e| ApiError::internal(e.to_string()))?;
            let Some(m) = model else {
                return Err(ApiError::invalid(
                    "model",
                    "model: no default text-to-image model is set; name one \
                     (`provider/model`, see GET /v1/models)",
                ));
            };
            return Ok(ModelTarget {
                provider: m.supplier,
                model: m.id,
            });
        }
        Some(n) => st
            .server
            .engine
            .config()
            .http
            .models
            .get(n)
            .cloned()
            .or_else(|| ModelTarget::parse(n)),
    };
    let unknown = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!(
                "the model {:?} does not exist: use provider/model (see GET /v1/models) or \
                 an alias from [http.models]",
                name.unwrap_or_default()
            ),
        )
        .param("model")
        .code("model_not_found")
    };
    let target = target.ok_or_else(unknown)?;
    let listed = store
        .list_models(ModelsListParams {
            supplier: Some(target.provider.clone()),
            capability: None,
            include_removed: false,
        })
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if listed
        .iter()
        .any(|m| m.id == target.model && m.kind == "image")
    {
        Ok(target)
    } else {
        Err(unknown())
    }
}

/// Waits until the job is final; 504 (the job keeps running) past `timeout`.
async fn wait_final(
    st: &Shared,
    mut live: broadcast::Receiver<Event>,
    job: Job,
    timeout: Duration,
) -> Result<Job, ApiError> {
    let deadline = tokio::time::Instant::now() + timeout;
    let id = job.id.clone();
    let mut current = job;
    while !current.state.is_final() {
        let ended = tokio::time::timeout_at(deadline, async {
            loop {
                match live.recv().await {
                    Ok(e) if e.job_id == id && e.new_state().is_some_and(|s| s.is_final()) => {
                        return true;
                    }
                    Ok(_) => continue,
                    // Fell behind the bus: read the job again.
                    Err(broadcast::error::RecvError::Lagged(_)) => return true,
                    Err(broadcast::error::RecvError::Closed) => return false,
                }
            }
        })
        .await;
        match ended {
            Ok(true) => {}
            Ok(false) => {
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "server_error",
                    "the daemon is shutting down; the job resumes when it starts again",
                ));
            }
            Err(_) => {
                let mut e = ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "timeout_error",
                    format!(
                        "job {} did not finish within {} s; it keeps running: GET /v1/jobs/{}",
                        current.short_id(),
                        timeout.as_secs(),
                        id
                    ),
                )
                .code("timeout");
                e.job_id = Some(id.0.clone());
                return Err(e);
            }
        }
        current = jobs::get(&st.server, (&id).into()).await?;
    }
    Ok(current)
}

/// The finished job as OpenAI's reply, or its failure as OpenAI's error.
async fn answer(
    st: &Shared,
    headers: &HeaderMap,
    job: &Job,
    format: ResponseFormat,
) -> Result<ImagesResponse, ApiError> {
    if let Some(err) = &job.error {
        let retry_after = st
            .server
            .engine
            .provider_limits(&job.provider)
            .and_then(|l| l.snapshot().paused_for)
            .map(|d| d.as_secs().max(1));
        return Err(ApiError::from_job_error(err, retry_after));
    }
    if job.state != genq_protocol::JobState::Succeeded {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "provider_error",
            format!("job {} was {}", job.short_id(), job.state),
        )
        .code(job.state.as_str()));
    }
    let mut data = Vec::new();
    for out in job
        .outputs
        .iter()
        .filter(|o| o.mime.as_deref().is_some_and(|m| m.starts_with("image/")))
    {
        let item = match format {
            ResponseFormat::B64Json => {
                let bytes = read_output(st, out).await?;
                ImageData {
                    b64_json: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                    url: None,
                }
            }
            ResponseFormat::Url => ImageData {
                b64_json: None,
                url: Some(
                    public_url(out)
                        .unwrap_or_else(|| signed_link(st, headers, &job.id.0, out.index)),
                ),
            },
        };
        data.push(item);
    }
    Ok(ImagesResponse {
        created: job.finished_at.unwrap_or_else(Timestamp::now).unix_millis() / 1000,
        data,
    })
}

/// The first http(s) URL a storage target gave the output.
fn public_url(out: &genq_protocol::Output) -> Option<String> {
    out.uploads
        .iter()
        .filter(|u| u.error.is_none())
        .filter_map(|u| u.url.clone())
        .find(|u| u.starts_with("http://") || u.starts_with("https://"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    pub data: Vec<ModelEntry>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ModelEntry {
    /// `provider/model`, or an alias.
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    pub created: i64,
    /// The provider.
    pub owned_by: String,
}

/// The catalog's image models of the providers a job could be sent to now (configured,
/// with their key or needing none), and the configured aliases.
#[utoipa::path(get, path = "/v1/models", tag = "openai",
    responses(
        (status = 200, description = "Models", body = ModelList),
        (status = 401, description = "No valid bearer token", body = super::error::ErrorBody),
    ),
    security(("bearer" = [])))]
pub async fn models(State(st): State<Shared>) -> Result<Json<ModelList>, ApiError> {
    let listed = st
        .server
        .engine
        .store()
        .list_models(ModelsListParams::default())
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let entry = |id: String, owned_by: String| ModelEntry {
        id,
        object: "model",
        created: 0,
        owned_by,
    };
    let mut data: Vec<ModelEntry> = listed
        .into_iter()
        .filter(|m| m.kind == "image" && m.active && !m.removed)
        .filter(|m| st.server.engine.can_send(&m.supplier))
        .map(|m| entry(format!("{}/{}", m.supplier, m.id), m.supplier))
        .collect();
    for (alias, target) in &st.server.engine.config().http.models {
        data.push(entry(alias.clone(), target.provider.clone()));
    }
    Ok(Json(ModelList {
        object: "list",
        data,
    }))
}
