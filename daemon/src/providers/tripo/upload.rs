//! Sending input images to Tripo (providers.md §3.2): a URL as it is, a local file uploaded
//! first through `/upload`, else `/upload/sts`, else an STS upload (`sts.rs`). The route
//! that worked is remembered per base URL.

use super::input::{ImageFormat, Input, classify_input, multipart_body, read_image, url_type};
use super::reply::{envelope, trace_id};
use super::sts;
use crate::providers::adaptor::{CallContext, ProviderError};
use crate::providers::builtin_models::ProviderId;
use crate::providers::http::{self, Reply};
use crate::secret::Secret;
use genq_protocol::JobErrorKind;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

const NAME: &str = ProviderId::Tripo.name();

/// Where local images go (providers.md §3.2), tried in this order, each after the one
/// before answered 404.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum UploadRoute {
    /// Multipart `POST /upload`.
    Direct,
    /// The same multipart request to `/upload/sts`, as older deployments name it.
    StsMultipart,
    /// `POST /upload/sts/token`, then a PUT to object storage with the temporary credentials.
    StsToken,
}

/// An uploaded image as a task refers to it.
enum Uploaded {
    /// `image_token` of a multipart upload, sent as `file_token`.
    Token(String),
    /// `{"bucket","key"}` of an STS upload, sent as `object`.
    Object(Value),
}

/// The upload route that worked, per base URL.
#[derive(Debug, Default)]
pub(super) struct Uploads {
    routes: Mutex<HashMap<String, UploadRoute>>,
}

impl Uploads {
    fn upload_route(&self, base: &str) -> UploadRoute {
        self.routes
            .lock()
            .ok()
            .and_then(|r| r.get(base).copied())
            .unwrap_or(UploadRoute::Direct)
    }

    fn remember_route(&self, base: &str, route: UploadRoute) {
        if let Ok(mut r) = self.routes.lock() {
            r.insert(base.to_string(), route);
        }
    }

    /// One input image as a task `file` entry: a URL as `{"type","url"}`, a local file
    /// uploaded first and sent as `{"type","file_token"}` (or `{"type","object"}` after an
    /// STS upload).
    pub(super) async fn file_entry(
        &self,
        ctx: &CallContext,
        key: &Secret,
        input: &str,
    ) -> Result<Value, ProviderError> {
        match classify_input(input) {
            Input::Url(url) => Ok(json!({"type": url_type(&url), "url": url})),
            Input::Local(path) => {
                let (bytes, format) = read_image(&path).map_err(|why| {
                    ProviderError::final_error(
                        JobErrorKind::InvalidParams,
                        format!("{NAME}: input image {}: {why}", path.display()),
                    )
                })?;
                // An upload creates no task, so it is safe to send again.
                let uploaded = self
                    .upload(ctx, key, bytes, format)
                    .await
                    .map_err(ProviderError::no_task_created)?;
                Ok(match uploaded {
                    Uploaded::Token(token) => {
                        json!({"type": format.task_type(), "file_token": token})
                    }
                    Uploaded::Object(object) => {
                        json!({"type": format.task_type(), "object": object})
                    }
                })
            }
            Input::Refused(why) => Err(ProviderError::final_error(
                JobErrorKind::InvalidParams,
                format!("{NAME}: input image {input:?}: {why}"),
            )),
        }
    }

    /// `POST /upload` (multipart field `file`); where that answers 404, the same request to
    /// `/upload/sts`; where that answers 404 too, an STS upload. The route that worked is
    /// remembered per base URL.
    async fn upload(
        &self,
        ctx: &CallContext,
        key: &Secret,
        bytes: Vec<u8>,
        format: ImageFormat,
    ) -> Result<Uploaded, ProviderError> {
        let base = ctx.base_url.clone();
        let (content_type, body) = multipart_body(&bytes, format);
        let send = |path: &'static [&'static str]| {
            let request = http::authed(ctx, Method::POST, &base, path, key);
            let content_type = content_type.clone();
            let body = body.clone();
            async move {
                let request = request?
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body);
                http::send(request).await
            }
        };
        let token = |reply: &Reply| {
            let data = envelope(reply)?;
            http::text_of(data.get("image_token"))
                .map(Uploaded::Token)
                .ok_or_else(|| http::malformed(NAME, reply).with_request_id(trace_id(reply)))
        };
        let not_found = |reply: &Reply| reply.status == reqwest::StatusCode::NOT_FOUND;
        let mut route = self.upload_route(&base);
        if route == UploadRoute::Direct {
            let reply = send(&["upload"]).await?;
            if !not_found(&reply) {
                return token(&reply);
            }
            route = UploadRoute::StsMultipart;
        }
        if route == UploadRoute::StsMultipart {
            let reply = send(&["upload", "sts"]).await?;
            if !not_found(&reply) {
                if reply.status.is_success() {
                    self.remember_route(&base, route);
                }
                return token(&reply);
            }
        }
        let object = self.sts_upload(ctx, key, bytes, format).await?;
        self.remember_route(&base, UploadRoute::StsToken);
        Ok(Uploaded::Object(object))
    }

    /// `POST /upload/sts/token` for the image's format, then the PUT with the temporary
    /// credentials. Returns the task's `object` reference.
    async fn sts_upload(
        &self,
        ctx: &CallContext,
        key: &Secret,
        bytes: Vec<u8>,
        format: ImageFormat,
    ) -> Result<Value, ProviderError> {
        let path = ["upload", "sts", "token"];
        let request = http::authed(ctx, Method::POST, &ctx.base_url, &path, key)?
            .json(&json!({"format": format.sts_format()}));
        let reply = http::send(request).await?;
        let data = envelope(&reply)?;
        let grant = sts::StsGrant::from_reply(&data)
            .ok_or_else(|| http::malformed(NAME, &reply).with_request_id(trace_id(&reply)))?;
        grant
            .put(bytes, format.mime())
            .await
            .map_err(|e| e.with_request_id(trace_id(&reply)))?;
        Ok(grant.object())
    }
}
