//! `[http]` checked: the address, the limits and the model names clients may use.

use super::file::HttpSection;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// A model as the HTTP API names it: `provider/model`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelTarget {
    pub provider: String,
    pub model: String,
}

impl ModelTarget {
    /// `provider/model` (the model may hold slashes itself: `modelscope/Qwen/Qwen-Image`).
    pub fn parse(name: &str) -> Option<ModelTarget> {
        let (provider, model) = name.split_once('/')?;
        (!provider.is_empty() && !model.is_empty()).then(|| ModelTarget {
            provider: provider.to_string(),
            model: model.to_string(),
        })
    }

    pub fn name(&self) -> String {
        format!("{}/{}", self.provider, self.model)
    }
}

/// The HTTP API's settings in force.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpSettings {
    /// Off when `None`.
    pub listen: Option<SocketAddr>,
    pub max_connections: usize,
    pub wait_timeout: Duration,
    pub url_ttl: Duration,
    /// Alias → model.
    pub models: BTreeMap<String, ModelTarget>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            listen: None,
            max_connections: 512,
            wait_timeout: Duration::from_secs(540),
            url_ttl: Duration::from_secs(3600),
            models: BTreeMap::new(),
        }
    }
}

impl HttpSettings {
    /// The section checked; the error names the key.
    pub(super) fn from_section(s: &HttpSection) -> Result<HttpSettings, String> {
        let mut out = HttpSettings::default();
        if let Some(listen) = &s.listen {
            out.listen = Some(listen.parse().map_err(|_| {
                format!(
                    "http.listen: {listen:?} is not an address and port, e.g. \"127.0.0.1:8765\""
                )
            })?);
        }
        if let Some(n) = s.max_connections {
            if !(1..=65_536).contains(&n) {
                return Err(format!("http.max_connections: {n} is not in 1..=65536"));
            }
            out.max_connections = n as usize;
        }
        if let Some(t) = s.wait_timeout_s {
            if !(1..=86_400).contains(&t) {
                return Err(format!("http.wait_timeout_s: {t} is not in 1..=86400"));
            }
            out.wait_timeout = Duration::from_secs(t);
        }
        if let Some(t) = s.url_ttl_s {
            if !(1..=7 * 86_400).contains(&t) {
                return Err(format!("http.url_ttl_s: {t} is not in 1..=604800"));
            }
            out.url_ttl = Duration::from_secs(t);
        }
        for (alias, target) in &s.models {
            let parsed = ModelTarget::parse(target).ok_or_else(|| {
                format!(
                    "http.models.{alias}: {target:?} is not provider/model, e.g. \
                     \"modelscope/Qwen/Qwen-Image\""
                )
            })?;
            out.models.insert(alias.clone(), parsed);
        }
        Ok(out)
    }
}
