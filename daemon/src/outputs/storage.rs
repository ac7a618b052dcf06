//! Storage targets: named places outputs are copied to after download (`[storage.NAME]` in
//! `config.toml`): any S3-compatible store (Tencent COS, Alibaba OSS, MinIO, AWS S3) or a
//! local directory. Keys are content-derived and puts are create-only, so an upload can be
//! repeated safely and an identical object already there counts as done.
//!
//! Examples (`access_key_env`/`secret_key_env` name environment variables; `*_cmd` run a
//! command that prints the value):
//!
//! ```toml
//! # Tencent COS: the bucket is <name>-<APPID>; buckets created since 2024 need
//! # virtual-hosted style, with the bucket in the endpoint host.
//! [storage.cos]
//! type = "s3"
//! endpoint = "https://examplebucket-1250000000.cos.ap-guangzhou.myqcloud.com"
//! region = "ap-guangzhou"
//! bucket = "examplebucket-1250000000"
//! virtual_hosted = true
//! access_key_env = "COS_SECRET_ID"
//! secret_key_env = "COS_SECRET_KEY"
//! acl = "public-read"
//! acl_header = "x-cos-acl"
//!
//! # Alibaba OSS: virtual-hosted only.
//! [storage.oss]
//! type = "s3"
//! endpoint = "https://examplebucket.oss-cn-hangzhou.aliyuncs.com"
//! region = "cn-hangzhou"
//! bucket = "examplebucket"
//! virtual_hosted = true
//! access_key_env = "OSS_ACCESS_KEY_ID"
//! secret_key_env = "OSS_ACCESS_KEY_SECRET"
//! public_url = "https://cdn.example.com"
//!
//! # MinIO: path style on its own host.
//! [storage.minio]
//! type = "s3"
//! endpoint = "http://127.0.0.1:9000"
//! bucket = "genq"
//! access_key_env = "MINIO_ROOT_USER"
//! secret_key_env = "MINIO_ROOT_PASSWORD"
//!
//! # AWS S3.
//! [storage.aws]
//! type = "s3"
//! endpoint = "https://examplebucket.s3.eu-west-1.amazonaws.com"
//! region = "eu-west-1"
//! bucket = "examplebucket"
//! virtual_hosted = true
//! access_key_env = "AWS_ACCESS_KEY_ID"
//! secret_key_env = "AWS_SECRET_ACCESS_KEY"
//!
//! [storage.archive]
//! type = "dir"
//! path = "/srv/genq-archive"
//! ```
//!
//! The URL recorded for an upload is `public_url` + `/` + key when `public_url` is set, else
//! the endpoint form (`<endpoint>/<key>` virtual-hosted, `<endpoint>/<bucket>/<key>` path
//! style; `file://` paths for `dir` targets).

mod dir;
mod key;
mod s3;

pub use key::{DEFAULT_KEY_TEMPLATE, KeyContext, KeyTemplate, PLACEHOLDERS};

use crate::config::{StorageKeys, StorageSection};
use genq_protocol::JobErrorKind;
use std::path::Path;
use std::sync::Arc;

/// A failed upload or a target that cannot be built. The message names the target and
/// never contains credentials.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("storage target {target}: {message}")]
pub struct StorageError {
    pub target: String,
    /// Worth another attempt later (network, 5xx, throttling).
    pub retryable: bool,
    pub message: String,
}

impl StorageError {
    pub fn new(target: &str, message: impl Into<String>) -> Self {
        StorageError {
            target: target.to_string(),
            retryable: false,
            message: message.into(),
        }
    }

    /// Always `storage`.
    pub fn kind(&self) -> JobErrorKind {
        JobErrorKind::Storage
    }
}

/// A completed upload.
#[derive(Clone, Debug, PartialEq)]
pub struct Uploaded {
    pub key: String,
    /// The URL recorded on the output (`uploads[].url`).
    pub url: String,
    /// An identical object was already there; nothing was sent.
    pub skipped: bool,
}

/// Knobs for building targets that the config does not carry (tests map hosts to loopback).
#[derive(Clone, Default)]
pub struct BuildOptions {
    /// Resolves S3 hosts instead of the system resolver.
    pub dns_resolver: Option<Arc<dyn object_store::client::DnsResolver>>,
    /// Retries object_store makes inside one upload (default 3).
    pub max_retries: Option<usize>,
}

/// One configured target.
#[derive(Debug)]
pub struct StorageTarget {
    name: String,
    template: KeyTemplate,
    public_url: Option<String>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    S3(s3::S3Target),
    Dir(dir::DirTarget),
}

impl StorageTarget {
    /// Builds a target from its config table and the credentials read when the config
    /// loaded.
    pub fn from_config(
        name: &str,
        section: &StorageSection,
        keys: &StorageKeys,
    ) -> Result<Self, StorageError> {
        Self::build(name, section, keys, &BuildOptions::default())
    }

    /// Builds a target, reading its credentials from `env` or its commands now.
    pub fn from_config_with(
        name: &str,
        section: &StorageSection,
        env: &dyn Fn(&str) -> Option<String>,
        options: &BuildOptions,
    ) -> Result<Self, StorageError> {
        let keys =
            crate::config::storage_keys(section, env).map_err(|m| StorageError::new(name, m))?;
        Self::build(name, section, &keys, options)
    }

    fn build(
        name: &str,
        section: &StorageSection,
        keys: &StorageKeys,
        options: &BuildOptions,
    ) -> Result<Self, StorageError> {
        let err = |m: String| StorageError::new(name, m);
        let (template, public_url) = match section {
            StorageSection::S3 {
                key_template,
                public_url,
                ..
            }
            | StorageSection::Dir {
                key_template,
                public_url,
                ..
            } => (key_template, public_url),
        };
        let template =
            KeyTemplate::parse(template.as_deref().unwrap_or(DEFAULT_KEY_TEMPLATE)).map_err(err)?;
        if let Some(u) = public_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(err(format!(
                "public_url {u:?} is not an http:// or https:// URL"
            )));
        }
        let public_url = public_url
            .as_ref()
            .map(|u| u.trim_end_matches('/').to_string());
        let backend = match section {
            StorageSection::S3 { .. } => {
                Backend::S3(s3::S3Target::build(name, section, keys, options)?)
            }
            StorageSection::Dir { path, .. } => Backend::Dir(dir::DirTarget::new(name, path)?),
        };
        Ok(StorageTarget {
            name: name.to_string(),
            template,
            public_url,
            backend,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key an output gets on this target.
    pub fn key(&self, ctx: &KeyContext) -> String {
        self.template.render(ctx)
    }

    /// The URL recorded for `key`.
    pub fn url_for(&self, key: &str) -> String {
        match &self.public_url {
            Some(base) => format!("{base}/{}", encode_key(key)),
            None => match &self.backend {
                Backend::S3(t) => t.url_for(key),
                Backend::Dir(t) => t.url_for(key),
            },
        }
    }

    /// Copies `local` to this target under its key; returns the URL to record.
    pub async fn upload(&self, local: &Path, ctx: &KeyContext) -> Result<String, StorageError> {
        self.upload_detailed(local, ctx).await.map(|u| u.url)
    }

    /// [`Self::upload`], also saying whether an identical object was already there.
    pub async fn upload_detailed(
        &self,
        local: &Path,
        ctx: &KeyContext,
    ) -> Result<Uploaded, StorageError> {
        let key = self.key(ctx);
        let skipped = match &self.backend {
            Backend::S3(t) => t.put(local, &key, ctx).await?,
            Backend::Dir(t) => t.put(local, &key, ctx).await?,
        };
        Ok(Uploaded {
            url: self.url_for(&key),
            key,
            skipped,
        })
    }
}

/// Percent-encodes what is not safe in a URL path, keeping `/` separators.
fn encode_key(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    for b in key.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_in_urls_but_slashes_kept() {
        assert_eq!(encode_key("2025 11/a+b.png"), "2025%2011/a%2Bb.png");
    }
}
