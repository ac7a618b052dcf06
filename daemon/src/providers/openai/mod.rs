//! OpenAI-compatible image APIs (`type = "openai"`): OpenAI itself and the gateways that
//! speak its Images API (new-api, one-api, SiliconFlow, …). The API is synchronous: one
//! long `POST {base_url}/v1/images/generations` (or `/v1/images/edits` with an input image)
//! answers with the images themselves, as base64 or as short-lived URLs. Both are kept in
//! the spool at once ([`spool`]), and the "task" the engine follows is that kept reply, so
//! its first poll finds it done. Such a request is billed: the engine never sends it twice.
//!
//! [`models`] are the fields each model takes (its catalog entry), [`validate`] the checks
//! against them, [`request`] the request bodies, [`reply`] images and errors.

mod info;
pub mod models;
mod reply;
mod request;
mod spool;
mod validate;

use info::INFO;
pub use info::{DEFAULT_BASE_URL, NAME};

use super::adaptor::{
    CallContext, InvalidParam, PollStatus, Provider, ProviderError, ProviderInfo, Submitted,
};
use super::http;
use super::input_image;
use crate::config::ProviderSection;
use async_trait::async_trait;
use base64::Engine as _;
use genq_protocol::catalog::Model;
use genq_protocol::{JobErrorKind, JobKind, JobSpec};
use models::Options;
use reply::ReplyImage;
use reqwest::Method;
use std::time::Duration;

/// How long one generation may take when the table does not say (OpenAI's own client
/// waits 600 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// How long the model list may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(20);
/// Largest reply read: base64 images of a whole request.
const REPLY_MAX_BYTES: usize = 256 * 1024 * 1024;

/// One OpenAI-compatible instance.
pub struct OpenAi {
    options: Options,
    request_timeout: Duration,
}

impl OpenAi {
    pub fn new(section: &ProviderSection) -> Self {
        OpenAi {
            options: Options::from_section(section),
            request_timeout: section
                .request_timeout_s
                .map_or(REQUEST_TIMEOUT, Duration::from_secs),
        }
    }

    /// The request of `spec`: an edit when it has an input image.
    async fn request(
        &self,
        ctx: &CallContext,
        spec: &JobSpec,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let fields = request::fields(spec);
        let request = match &spec.image {
            None => http::keyed(
                ctx,
                &INFO,
                Method::POST,
                &api(ctx, &["images", "generations"]),
            )?
            .json(&fields),
            Some(input) => {
                let image = input_image::read(&ctx.http, input).await?;
                let (content_type, body) = input_image::multipart(&fields, "image.png", &image);
                http::keyed(ctx, &INFO, Method::POST, &api(ctx, &["images", "edits"]))?
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body)
            }
        };
        Ok(request.timeout(self.request_timeout))
    }
}

/// The bytes of each image of a reply: base64 decoded, URLs fetched at once (they expire).
/// The images were made and billed by now, so a failure is final.
async fn image_bytes(
    ctx: &CallContext,
    images: Vec<ReplyImage>,
) -> Result<Vec<Vec<u8>>, ProviderError> {
    let lost = |why: String| {
        ProviderError::final_error(
            JobErrorKind::Download,
            format!(
                "the images were made but {why}; they were not asked for again (each request \
                 is billed): `genq retry` makes them again"
            ),
        )
    };
    let mut out = Vec::new();
    for (i, image) in images.into_iter().enumerate() {
        let bytes = match image {
            ReplyImage::Base64(b64) => base64::engine::general_purpose::STANDARD
                .decode(b64.trim())
                .map_err(|e| lost(format!("image {i} is not valid base64 ({e})")))?,
            ReplyImage::Url(url) => {
                let reply = http::send_capped(ctx.http.get(&url), REPLY_MAX_BYTES)
                    .await
                    .map_err(|e| lost(format!("image {i} could not be downloaded ({e})")))?;
                if !reply.status.is_success() {
                    return Err(lost(format!(
                        "image {i} could not be downloaded (HTTP {})",
                        reply.status.as_u16()
                    )));
                }
                reply.body.to_vec()
            }
        };
        out.push(bytes);
    }
    Ok(out)
}

#[async_trait]
impl Provider for OpenAi {
    fn info(&self) -> &'static ProviderInfo {
        &INFO
    }

    /// The reply holds the images: the first poll comes at once.
    fn typical_duration(&self, _spec: &JobSpec) -> Duration {
        Duration::ZERO
    }

    fn validate(&self, spec: &mut JobSpec, entries: &[Model]) -> Result<JobKind, InvalidParam> {
        validate::check(spec, entries, &self.options)
    }

    async fn submit(&self, ctx: &CallContext, spec: &JobSpec) -> Result<Submitted, ProviderError> {
        let request = self.request(ctx, spec).await?;
        let reply = http::send_capped(request, REPLY_MAX_BYTES).await?;
        let request_id = reply::request_id(&reply);
        if !reply.status.is_success() {
            return Err(reply::error(&reply));
        }
        let images = reply::images(&reply)?;
        let bytes = image_bytes(ctx, images).await?;
        let remote_id = format!("{NAME}-{}", uuid::Uuid::now_v7().simple());
        spool::keep(&ctx.spool, &remote_id, &bytes).await?;
        Ok(Submitted {
            remote_id,
            request_id,
        })
    }

    /// Only a gateway whose table names no models is asked for them.
    fn lists_models(&self) -> bool {
        self.options.models.is_empty()
    }

    async fn list_models(&self, ctx: &CallContext) -> Result<Option<Vec<String>>, ProviderError> {
        if !self.lists_models() || ctx.key.is_none() {
            return Ok(None);
        }
        let request = http::keyed(ctx, &INFO, Method::GET, &api(ctx, &["models"]))?;
        let reply = http::send(request.timeout(LIST_TIMEOUT)).await?;
        if !reply.status.is_success() {
            // Many gateways do not offer the route: the table's models then.
            return match reply.status.as_u16() {
                404 | 405 | 501 => Ok(None),
                _ => Err(reply::error(&reply)),
            };
        }
        Ok(reply::image_models(&reply))
    }

    async fn poll(&self, ctx: &CallContext, remote_id: &str) -> Result<PollStatus, ProviderError> {
        let outputs = spool::kept(&ctx.spool, remote_id);
        if outputs.is_empty() {
            return Ok(PollStatus::Failed(ProviderError::final_error(
                JobErrorKind::Interrupted,
                "the images of this request are no longer kept (they were stored already, \
                 or removed); `genq retry` makes them again",
            )));
        }
        Ok(PollStatus::Succeeded {
            outputs,
            failures: Vec::new(),
            request_id: None,
            created_at: None,
            finished_at: None,
        })
    }
}

/// The path segments of an API route below `base_url`. A base URL written the way the
/// OpenAI SDKs take it, ending in `/v1`, is the API root already.
fn api<'a>(ctx: &CallContext, route: &[&'a str]) -> Vec<&'a str> {
    let at_root = ctx.base_url.trim_end_matches('/').ends_with("/v1");
    let mut segments = if at_root { Vec::new() } else { vec!["v1"] };
    segments.extend_from_slice(route);
    segments
}
