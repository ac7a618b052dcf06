//! A configured storage target: its key template, its public URL and the backend that
//! stores the objects.

use super::dir::DirTarget;
use super::error::StorageError;
use super::key::{DEFAULT_KEY_TEMPLATE, KeyContext, KeyTemplate, encode_key};
use super::s3::{BuildOptions, S3Target};
use crate::config::{StorageKeys, StorageSection};
use std::path::Path;

/// A completed upload.
#[derive(Clone, Debug, PartialEq)]
pub struct Uploaded {
    pub key: String,
    /// The URL recorded on the output (`uploads[].url`).
    pub url: String,
    /// An identical object was already there; nothing was sent.
    pub skipped: bool,
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
    S3(S3Target),
    Dir(DirTarget),
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
                Backend::S3(S3Target::build(name, section, keys, options)?)
            }
            StorageSection::Dir { path, .. } => Backend::Dir(DirTarget::new(name, path)?),
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
