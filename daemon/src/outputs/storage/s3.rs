//! S3-compatible targets through `object_store`: endpoint and addressing style, credentials,
//! the ACL header, create-only puts, and errors turned into sentences without secrets.
//!
//! With `virtual_hosted = true` the endpoint is used verbatim, so it must already contain
//! the bucket (`https://<bucket>.oss-<region>.aliyuncs.com`); with `false` requests go to
//! `<endpoint>/<bucket>/<key>` (path style, MinIO and older COS buckets).

use super::error::StorageError;
use super::key::{KeyContext, encode_key};
use crate::config::{StorageKeys, StorageSection};
use crate::s3_endpoint::infer_region;
use crate::secret::Secret;
use object_store::aws::{AmazonS3, AmazonS3Builder, S3ConditionalPut};
use object_store::{
    Attribute, AttributeValue, Attributes, BackoffConfig, ClientOptions, GetOptions, ObjectStore,
    PutMode, PutOptions, PutPayload, RetryConfig,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Metadata key holding the SHA-256 of what was uploaded (`x-amz-meta-sha256`), so a
/// create-only put that finds an object there can tell whether it is the same content.
const SHA_META: &str = "sha256";

/// Knobs for building targets that the config does not carry (tests map hosts to loopback).
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// Resolves S3 hosts instead of the system resolver.
    pub dns_resolver: Option<Arc<dyn object_store::client::DnsResolver>>,
    /// Retries object_store makes inside one upload (default 3).
    pub max_retries: Option<usize>,
}

pub struct S3Target {
    name: String,
    bucket: String,
    endpoint: String,
    virtual_hosted: bool,
    store: AmazonS3,
    /// Credential values, scrubbed from any message as a last line of defence.
    secrets: Vec<Secret>,
}

impl std::fmt::Debug for S3Target {
    // AmazonS3's own Debug would print the credential provider.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("name", &self.name)
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("virtual_hosted", &self.virtual_hosted)
            .finish_non_exhaustive()
    }
}

impl S3Target {
    pub fn build(
        name: &str,
        section: &StorageSection,
        keys: &StorageKeys,
        options: &BuildOptions,
    ) -> Result<S3Target, StorageError> {
        let StorageSection::S3 {
            endpoint,
            region,
            bucket,
            virtual_hosted,
            acl,
            acl_header,
            ..
        } = section
        else {
            return Err(StorageError::new(name, "not an s3 target"));
        };
        let err = |m: String| StorageError::new(name, m);
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let url = check_endpoint(&endpoint, bucket, *virtual_hosted).map_err(err)?;
        let region = region
            .clone()
            .or_else(|| infer_region(&endpoint))
            .unwrap_or_else(|| "us-east-1".to_string());

        let (Some(access), Some(secret)) = (&keys.access, &keys.secret) else {
            return Err(err(
                "credentials missing: set access_key_env and secret_key_env (or access_key_cmd \
                 and secret_key_cmd)"
                    .into(),
            ));
        };

        let mut client = ClientOptions::new()
            .with_allow_http(url.scheme() == "http")
            .with_connect_timeout(Duration::from_secs(10))
            .with_timeout(Duration::from_secs(600));
        if let Some(headers) = acl_headers(acl.as_deref(), acl_header.as_deref()).map_err(err)? {
            client = client.with_default_headers(headers);
        }
        if let Some(r) = &options.dns_resolver {
            client = client.with_dns_resolver(r.clone());
        }
        // reqwest needs a process-wide TLS provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: options.max_retries.unwrap_or(3),
            retry_timeout: Duration::from_secs(120),
        };
        let store = AmazonS3Builder::new()
            .with_endpoint(&endpoint)
            .with_bucket_name(bucket)
            .with_region(&region)
            .with_access_key_id(access.expose())
            .with_secret_access_key(secret.expose())
            .with_virtual_hosted_style_request(*virtual_hosted)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            .with_client_options(client)
            .with_retry(retry)
            .build()
            .map_err(|e| {
                err(format!(
                    "cannot set up the S3 client: {}",
                    scrub(&e.to_string(), &[access, secret])
                ))
            })?;
        Ok(S3Target {
            name: name.to_string(),
            bucket: bucket.clone(),
            endpoint,
            virtual_hosted: *virtual_hosted,
            store,
            secrets: vec![access.clone(), secret.clone()],
        })
    }

    /// The endpoint form of an object's URL.
    pub fn url_for(&self, key: &str) -> String {
        if self.virtual_hosted {
            format!("{}/{}", self.endpoint, encode_key(key))
        } else {
            format!("{}/{}/{}", self.endpoint, self.bucket, encode_key(key))
        }
    }

    /// Create-only put of `local` under `key`. `Ok(true)` when an identical object was
    /// already there.
    pub async fn put(
        &self,
        local: &Path,
        key: &str,
        ctx: &KeyContext,
    ) -> Result<bool, StorageError> {
        let path = object_store::path::Path::parse(key)
            .map_err(|e| self.error(format!("key {key:?} is not a valid object key: {e}")))?;
        let bytes = tokio::fs::read(local)
            .await
            .map_err(|e| self.error(format!("cannot read {}: {e}", local.display())))?;
        let size = bytes.len() as u64;
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::ContentType,
            AttributeValue::from(ctx.mime.clone()),
        );
        attributes.insert(
            Attribute::Metadata(SHA_META.into()),
            AttributeValue::from(ctx.sha256.clone()),
        );
        let opts = PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        match self
            .store
            .put_opts(&path, PutPayload::from(bytes), opts)
            .await
        {
            Ok(_) => Ok(false),
            Err(object_store::Error::AlreadyExists { .. }) => {
                self.check_existing(&path, key, size, ctx).await
            }
            Err(e) => Err(self.map_error(&e, key)),
        }
    }

    async fn check_existing(
        &self,
        path: &object_store::path::Path,
        key: &str,
        size: u64,
        ctx: &KeyContext,
    ) -> Result<bool, StorageError> {
        let head = GetOptions {
            head: true,
            ..Default::default()
        };
        let got = self
            .store
            .get_opts(path, head)
            .await
            .map_err(|e| self.map_error(&e, key))?;
        let same = match got.attributes.get(&Attribute::Metadata(SHA_META.into())) {
            Some(v) => v.as_ref().eq_ignore_ascii_case(&ctx.sha256),
            None => got.meta.size == size,
        };
        if same {
            Ok(true)
        } else {
            Err(self.error(format!(
                "an object with different content already exists at {key}; it was left as is \
                 (use a key_template with {{sha256}} so keys follow the content)"
            )))
        }
    }

    fn error(&self, message: String) -> StorageError {
        StorageError::new(
            &self.name,
            scrub(&message, &self.secrets.iter().collect::<Vec<_>>()),
        )
    }

    fn map_error(&self, e: &object_store::Error, key: &str) -> StorageError {
        let text = scrub(&e.to_string(), &self.secrets.iter().collect::<Vec<_>>());
        let code = xml_tag(&text, "Code");
        let detail = xml_tag(&text, "Message");
        let said = match (&code, &detail) {
            (Some(c), Some(m)) => format!(" ({c}: {m})"),
            (Some(c), None) => format!(" ({c})"),
            _ => String::new(),
        };
        let (bucket, endpoint) = (&self.bucket, &self.endpoint);
        let status = status_code(&text);
        let mut out = match (e, code.as_deref()) {
            (_, Some("NoSuchBucket")) | (object_store::Error::NotFound { .. }, None) => self.error(format!(
                "the bucket {bucket:?} does not exist at {endpoint}{said}; create it or fix \
                 `bucket` / `endpoint`"
            )),
            (_, Some("SecondLevelDomainForbidden" | "PathStyleDomainForbidden")) => self.error(format!(
                "the store refuses path-style requests{said}: set virtual_hosted = true and put \
                 the bucket in the endpoint host"
            )),
            (_, Some("PermanentRedirect" | "AuthorizationHeaderMalformed")) => self.error(format!(
                "wrong endpoint or region for bucket {bucket:?}{said}"
            )),
            (_, Some("InvalidAccessKeyId" | "SignatureDoesNotMatch")) => self.error(format!(
                "the credentials were refused{said}; check access_key_* and secret_key_*"
            )),
            (object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. }, _) => {
                self.error(format!(
                    "access denied writing {key} to bucket {bucket:?}{said}; check the \
                     credentials and the bucket's permissions (and whether the ACL is allowed)"
                ))
            }
            _ => {
                let retry = status.is_none_or(|s| s == 429 || s >= 500);
                let mut se = self.error(match status {
                    Some(s) => format!("uploading {key} to {endpoint} failed with HTTP {s}{said}"),
                    None => format!("uploading {key} to {endpoint} failed: {}", last_part(&text)),
                });
                se.retryable = retry;
                se
            }
        };
        if out.message.len() > 600 {
            out.message.truncate(600);
        }
        out
    }
}

/// Replaces every credential value in `text`.
fn scrub(text: &str, secrets: &[&Secret]) -> String {
    let mut t = text.to_string();
    for s in secrets {
        if s.expose().len() >= 4 {
            t = t.replace(s.expose(), "***");
        }
    }
    t
}

fn xml_tag(text: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = text.find(&open)? + open.len();
    let end = text[start..].find(&format!("</{tag}>"))? + start;
    Some(text[start..end].trim().to_string())
}

fn status_code(text: &str) -> Option<u16> {
    let i = text.find("status code: ")? + "status code: ".len();
    text.get(i..i + 3)?.parse().ok()
}

/// The end of an error chain's text, which names the cause (after the request line).
fn last_part(text: &str) -> &str {
    text.rsplit(" - ").next().unwrap_or(text).trim()
}

/// Checks an endpoint against the bucket and the addressing style; the parsed URL.
fn check_endpoint(
    endpoint: &str,
    bucket: &str,
    virtual_hosted: bool,
) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(endpoint)
        .map_err(|e| format!("endpoint {endpoint:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "endpoint {endpoint:?} is not an http:// or https:// URL"
        ));
    }
    if !url.path().trim_matches('/').is_empty() {
        return Err(format!(
            "endpoint {endpoint:?} has a path; give the host only (the bucket goes in `bucket`)"
        ));
    }
    let host = url.host_str().unwrap_or("").to_ascii_lowercase();
    if bucket.is_empty() {
        return Err("bucket is empty".into());
    }
    if virtual_hosted && !host.starts_with(&format!("{}.", bucket.to_ascii_lowercase())) {
        return Err(format!(
            "virtual_hosted = true uses the endpoint as given, so its host must start with \
             the bucket: e.g. {}://{bucket}.{host}",
            url.scheme()
        ));
    }
    if !virtual_hosted && host.ends_with(".aliyuncs.com") {
        return Err(format!(
            "Alibaba OSS only accepts virtual-hosted requests: set virtual_hosted = true and \
             endpoint = \"https://{bucket}.{}\"",
            host.trim_start_matches("s3.")
        ));
    }
    Ok(url)
}

/// The header that sets each object's ACL, when `acl` is set.
fn acl_headers(
    acl: Option<&str>,
    acl_header: Option<&str>,
) -> Result<Option<object_store::HeaderMap>, String> {
    let Some(acl) = acl else {
        return match acl_header {
            Some(_) => Err("acl_header is set but acl is not".into()),
            None => Ok(None),
        };
    };
    let header = acl_header.unwrap_or("x-amz-acl").to_ascii_lowercase();
    if !matches!(header.as_str(), "x-amz-acl" | "x-cos-acl" | "x-oss-acl") {
        return Err(format!(
            "acl_header {header:?} is not allowed; use x-amz-acl, x-cos-acl or x-oss-acl"
        ));
    }
    let name = reqwest::header::HeaderName::from_bytes(header.as_bytes())
        .map_err(|e| format!("acl_header {header:?}: {e}"))?;
    let value = reqwest::header::HeaderValue::from_str(acl)
        .map_err(|_| format!("acl {acl:?} is not a valid header value"))?;
    let mut headers = object_store::HeaderMap::new();
    headers.insert(name, value);
    Ok(Some(headers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outputs::storage::StorageTarget;
    use crate::s3_endpoint::{aws_endpoint, cos_endpoint, minio_endpoint, oss_endpoint};

    fn s3(endpoint: &str, bucket: &str, virtual_hosted: bool) -> StorageSection {
        StorageSection::S3 {
            endpoint: endpoint.into(),
            region: None,
            bucket: bucket.into(),
            virtual_hosted,
            access_key_env: Some("AK".into()),
            secret_key_env: Some("SK".into()),
            access_key_cmd: None,
            secret_key_cmd: None,
            acl: None,
            acl_header: None,
            key_template: None,
            public_url: None,
        }
    }

    fn env(k: &str) -> Option<String> {
        match k {
            "AK" => Some("AKIDEXAMPLE".into()),
            "SK" => Some("wJalrXUtnFEMI".into()),
            _ => None,
        }
    }

    fn build(section: &StorageSection) -> Result<StorageTarget, StorageError> {
        StorageTarget::from_config_with("t", section, &env, &BuildOptions::default())
    }

    #[test]
    fn cos_endpoints_carry_bucket_and_appid() {
        assert_eq!(
            cos_endpoint("examplebucket", "1250000000", "ap-guangzhou"),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
        assert_eq!(
            cos_endpoint("examplebucket-1250000000", "1250000000", "ap-guangzhou"),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
        );
        let ep = cos_endpoint("examplebucket", "1250000000", "ap-guangzhou");
        assert_eq!(infer_region(&ep).as_deref(), Some("ap-guangzhou"));
        let t = build(&s3(&ep, "examplebucket-1250000000", true)).unwrap();
        assert_eq!(
            t.url_for("202511/ab_j_0.png"),
            "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com/202511/ab_j_0.png"
        );
    }

    #[test]
    fn oss_endpoints_are_virtual_hosted_only() {
        let ep = oss_endpoint("examplebucket", "cn-hangzhou");
        assert_eq!(ep, "https://examplebucket.oss-cn-hangzhou.aliyuncs.com");
        assert_eq!(infer_region(&ep).as_deref(), Some("cn-hangzhou"));
        assert_eq!(
            infer_region("https://b.oss-cn-beijing-internal.aliyuncs.com").as_deref(),
            Some("cn-beijing")
        );
        let t = build(&s3(&ep, "examplebucket", true)).unwrap();
        assert_eq!(
            t.url_for("k/x.png"),
            "https://examplebucket.oss-cn-hangzhou.aliyuncs.com/k/x.png"
        );
        let e = build(&s3(
            "https://oss-cn-hangzhou.aliyuncs.com",
            "examplebucket",
            false,
        ))
        .unwrap_err();
        assert!(e.message.contains("virtual_hosted = true"), "{e}");
        assert!(
            e.message
                .contains("https://examplebucket.oss-cn-hangzhou.aliyuncs.com"),
            "{e}"
        );
    }

    #[test]
    fn virtual_hosted_endpoints_must_name_the_bucket() {
        let e = build(&s3("https://cos.ap-guangzhou.myqcloud.com", "b-125", true)).unwrap_err();
        assert!(e.message.contains("must start with the bucket"), "{e}");
        assert!(
            e.message
                .contains("https://b-125.cos.ap-guangzhou.myqcloud.com"),
            "{e}"
        );
    }

    #[test]
    fn minio_and_aws_path_style_put_the_bucket_in_the_path() {
        let ep = minio_endpoint("127.0.0.1", 9000, false);
        let t = build(&s3(&ep, "genq", false)).unwrap();
        assert_eq!(t.url_for("a/b.glb"), "http://127.0.0.1:9000/genq/a/b.glb");

        let ep = aws_endpoint("examplebucket", "eu-west-1", false);
        assert_eq!(infer_region(&ep).as_deref(), Some("eu-west-1"));
        let t = build(&s3(&ep, "examplebucket", false)).unwrap();
        assert_eq!(
            t.url_for("a.png"),
            "https://s3.eu-west-1.amazonaws.com/examplebucket/a.png"
        );
        let ep = aws_endpoint("examplebucket", "eu-west-1", true);
        assert_eq!(ep, "https://examplebucket.s3.eu-west-1.amazonaws.com");
        let t = build(&s3(&ep, "examplebucket", true)).unwrap();
        assert_eq!(
            t.url_for("a.png"),
            "https://examplebucket.s3.eu-west-1.amazonaws.com/a.png"
        );
    }

    #[test]
    fn public_url_wins_over_the_endpoint() {
        let mut section = s3(&oss_endpoint("b", "cn-hangzhou"), "b", true);
        if let StorageSection::S3 { public_url, .. } = &mut section {
            *public_url = Some("https://cdn.example.com/".into());
        }
        assert_eq!(
            build(&section).unwrap().url_for("x/y.png"),
            "https://cdn.example.com/x/y.png"
        );
    }

    #[test]
    fn missing_credentials_and_bad_acl_headers_are_named_without_values() {
        let mut section = s3("http://127.0.0.1:9000", "b", false);
        if let StorageSection::S3 { secret_key_env, .. } = &mut section {
            *secret_key_env = None;
        }
        assert!(
            build(&section)
                .unwrap_err()
                .message
                .contains("credentials missing")
        );
        let mut section = s3("http://127.0.0.1:9000", "b", false);
        if let StorageSection::S3 {
            acl, acl_header, ..
        } = &mut section
        {
            *acl = Some("public-read".into());
            *acl_header = Some("x-evil".into());
        }
        let e = build(&section).unwrap_err();
        assert!(e.message.contains("acl_header"), "{e}");
        let t = build(&s3("http://127.0.0.1:9000", "b", false)).unwrap();
        let dbg = format!("{t:?}");
        assert!(
            !dbg.contains("AKIDEXAMPLE") && !dbg.contains("wJalrXUtnFEMI"),
            "{dbg}"
        );
    }

    #[test]
    fn secrets_are_scrubbed_from_messages() {
        let s = Secret::new("AKIDEXAMPLE");
        assert_eq!(
            scrub("<AWSAccessKeyId>AKIDEXAMPLE</AWSAccessKeyId>", &[&s]),
            "<AWSAccessKeyId>***</AWSAccessKeyId>"
        );
        assert_eq!(
            xml_tag("<Error><Code>NoSuchBucket</Code></Error>", "Code").as_deref(),
            Some("NoSuchBucket")
        );
        assert_eq!(
            status_code("Server returned non-2xx status code: 503 Service"),
            Some(503)
        );
    }
}
