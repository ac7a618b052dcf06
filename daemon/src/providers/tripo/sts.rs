//! Tripo's STS upload (providers.md §3.2): `POST /upload/sts/token` hands out temporary S3
//! credentials for one object, the image is PUT there, and the task names it as
//! `{"object": {"bucket", "key"}}`. genq uses it where neither multipart endpoint
//! (`/upload`, `/upload/sts`) exists.

use crate::providers::adaptor::ProviderError;
use crate::providers::builtin_models::ProviderId;
use crate::s3_endpoint::infer_region;
use crate::secret::Secret;
use genq_protocol::JobErrorKind;
use object_store::aws::AmazonS3Builder;
use object_store::{
    Attribute, AttributeValue, Attributes, ClientOptions, ObjectStore, PutOptions, PutPayload,
    RetryConfig,
};
use serde_json::Value;
use std::time::Duration;

const NAME: &str = ProviderId::Tripo.name();

/// Temporary credentials for one object, as `/upload/sts/token` returns them.
#[derive(Debug)]
pub struct StsGrant {
    /// `s3.us-west-2.amazonaws.com`; a value with a scheme is used as the endpoint as is.
    pub host: String,
    pub bucket: String,
    pub key: String,
    access_key: Secret,
    secret_key: Secret,
    session_token: Secret,
}

impl StsGrant {
    /// Reads the `data` of a token reply; `None` when a field is missing.
    pub fn from_reply(data: &Value) -> Option<StsGrant> {
        let text = |k: &str| {
            data.get(k)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        Some(StsGrant {
            host: text("s3_host")?,
            bucket: text("resource_bucket")?,
            key: text("resource_uri")?,
            access_key: Secret::new(text("sts_ak")?),
            secret_key: Secret::new(text("sts_sk")?),
            session_token: Secret::new(text("session_token")?),
        })
    }

    /// The task's reference to the uploaded object.
    pub fn object(&self) -> Value {
        serde_json::json!({"bucket": self.bucket, "key": self.key})
    }

    /// PutObject of `bytes` under the granted key, signed with the temporary credentials.
    pub async fn put(&self, bytes: Vec<u8>, mime: &str) -> Result<(), ProviderError> {
        let fail = |kind, retryable, message: String| {
            let mut e = ProviderError::final_error(kind, format!("{NAME}: STS upload: {message}"));
            e.retryable = retryable;
            e
        };
        let endpoint = if self.host.contains("://") {
            self.host.trim_end_matches('/').to_string()
        } else {
            format!("https://{}", self.host)
        };
        let url = reqwest::Url::parse(&endpoint).map_err(|e| {
            fail(
                JobErrorKind::Provider,
                false,
                format!("s3_host {:?} is not a host: {e}", self.host),
            )
        })?;
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        // AWS buckets are addressed virtual-hosted; any other host gets path style.
        let virtual_hosted = host.ends_with(".amazonaws.com");
        let endpoint = if virtual_hosted {
            format!("{}://{}.{host}", url.scheme(), self.bucket)
        } else {
            endpoint
        };
        let region = infer_region(&endpoint).unwrap_or_else(|| "us-west-2".to_string());
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ClientOptions::new()
            .with_allow_http(url.scheme() == "http")
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(120));
        let store = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_bucket_name(&self.bucket)
            .with_region(region)
            .with_access_key_id(self.access_key.expose())
            .with_secret_access_key(self.secret_key.expose())
            .with_token(self.session_token.expose())
            .with_virtual_hosted_style_request(virtual_hosted)
            .with_client_options(client)
            // The engine retries the whole submit, with a fresh grant.
            .with_retry(RetryConfig {
                max_retries: 0,
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| {
                fail(
                    JobErrorKind::Internal,
                    false,
                    format!(
                        "cannot set up the S3 client: {}",
                        self.scrub(&e.to_string())
                    ),
                )
            })?;
        let path = object_store::path::Path::parse(&self.key).map_err(|e| {
            fail(
                JobErrorKind::Provider,
                false,
                format!("resource_uri {:?} is not an object key: {e}", self.key),
            )
        })?;
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::ContentType,
            AttributeValue::from(mime.to_string()),
        );
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        match store.put_opts(&path, PutPayload::from(bytes), opts).await {
            Ok(_) => Ok(()),
            Err(
                e @ (object_store::Error::PermissionDenied { .. }
                | object_store::Error::Unauthenticated { .. }),
            ) => Err(fail(
                JobErrorKind::Auth,
                false,
                format!(
                    "{endpoint} refused the temporary credentials: {}",
                    self.scrub(&e.to_string())
                ),
            )),
            Err(e) => Err(fail(
                JobErrorKind::Network,
                true,
                format!("PUT to {endpoint} failed: {}", self.scrub(&e.to_string())),
            )),
        }
    }

    /// A message with the temporary credentials cut out, should a client library echo them.
    fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in [&self.access_key, &self.secret_key, &self.session_token] {
            if !s.expose().is_empty() {
                out = out.replace(s.expose(), "***");
            }
        }
        out
    }
}
