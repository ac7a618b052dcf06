//! The config in force: `config.toml` and the stored keys resolved against the defaults of
//! each provider the daemon knows.

use super::credentials::{self, KeySearch, KeySource, StorageKeys};
use super::file::{
    CatalogSection, ConfigFile, OutputsSection, ProviderSection, StorageSection, parse,
};
use super::http::HttpSettings;
use crate::secret::Secret;
use genq_protocol::{Credentials, Paths};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The LoRA catalog settings in force. URLs carry no trailing slash.
#[derive(Clone, Debug, PartialEq)]
pub struct CatalogSettings {
    pub modelscope_base_url: String,
    pub civitai_base_url: String,
    pub huggingface_base_url: String,
    pub nsfw: bool,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        CatalogSettings {
            modelscope_base_url: "https://modelscope.cn".into(),
            civitai_base_url: "https://civitai.com".into(),
            huggingface_base_url: "https://huggingface.co".into(),
            nsfw: false,
        }
    }
}

/// Per-provider limits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub max_concurrent: u32,
    pub requests_per_second: f64,
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_concurrent: 2,
            requests_per_second: 2.0,
            timeout: Duration::from_secs(15 * 60),
        }
    }
}

/// What the config takes from each provider it can configure: the values a
/// `[providers.NAME]` table overrides.
#[derive(Clone, Copy, Debug)]
pub struct ProviderDefaults {
    pub base_url: &'static str,
    /// Environment variables the key is read from when the config names none, in order.
    pub key_env_vars: &'static [&'static str],
    pub limits: Limits,
}

/// The providers a config may name. The provider registry implements it, so the config
/// knows providers only through this and sits below them.
pub trait KnownProviders {
    fn provider_names(&self) -> Vec<&'static str>;
    fn provider_defaults(&self, name: &str) -> Option<ProviderDefaults>;
}

/// A provider's settings after defaults and the key were resolved.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    pub base_url: String,
    pub key: Option<Secret>,
    pub key_source: KeySource,
    /// Where the key was looked for, for the message when there is none.
    pub key_search: KeySearch,
    pub limits: Limits,
    /// `typical_s`, when set.
    pub typical: Option<Duration>,
}

/// The config in force.
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub providers: BTreeMap<String, ProviderSettings>,
    pub storage: BTreeMap<String, StorageSection>,
    /// Each storage target's credentials, read once when the config loaded (or why they
    /// could not be).
    pub storage_keys: BTreeMap<String, Result<StorageKeys, String>>,
    pub default_storage: Vec<String>,
    pub outputs: OutputsSection,
    pub source: Option<PathBuf>,
    pub catalog: CatalogSettings,
    pub http: HttpSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(transparent)]
    Credentials(#[from] genq_protocol::credentials::CredentialsError),
}

impl Config {
    /// Every secret value this config holds (provider keys, storage credentials), for
    /// masking messages before they are stored, logged or sent.
    pub fn secret_values(&self) -> Vec<&str> {
        let providers = self.providers.values().filter_map(|s| s.key.as_ref());
        let storage = self
            .storage_keys
            .values()
            .filter_map(|k| k.as_ref().ok())
            .flat_map(|k| [k.access.as_ref(), k.secret.as_ref()])
            .flatten();
        providers.chain(storage).map(|k| k.expose()).collect()
    }

    /// Reads and validates the config file and the stored keys; a missing file means all
    /// defaults. Runs the key commands: never call it on the async runtime.
    pub fn load(paths: &Paths, registry: &dyn KnownProviders) -> Result<Config, ConfigError> {
        Config::load_with_env(&paths.config, &paths.credentials, registry, &|k| {
            std::env::var(k).ok()
        })
    }

    pub fn load_with_env(
        path: &Path,
        credentials: &Path,
        registry: &dyn KnownProviders,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let stored = Credentials::load(credentials)?;
        let (file, readable_by_others) = read_file(path)?;
        let invalid = |message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            message,
        };

        for name in file.providers.keys() {
            if registry.provider_defaults(name).is_none() {
                let known = registry.provider_names();
                return Err(invalid(format!(
                    "[providers.{name}]: unknown provider; known: {}",
                    known.join(", ")
                )));
            }
        }
        let mut providers = BTreeMap::new();
        for name in registry.provider_names() {
            let Some(defaults) = registry.provider_defaults(name) else {
                continue;
            };
            let section = file.providers.get(name).cloned().unwrap_or_default();
            let base_url = http_url(
                &format!("providers.{name}.base_url"),
                section.base_url.as_deref().unwrap_or(defaults.base_url),
            )
            .map_err(invalid)?;
            let (limits, typical) =
                provider_limits(name, &section, defaults.limits).map_err(invalid)?;
            let resolved = credentials::provider_key(
                name,
                &section,
                defaults.key_env_vars,
                env,
                &stored,
                credentials,
                readable_by_others,
            )
            .map_err(invalid)?;
            providers.insert(
                name.to_string(),
                ProviderSettings {
                    base_url,
                    key: resolved.key,
                    key_source: resolved.source,
                    key_search: resolved.search,
                    limits,
                    typical,
                },
            );
        }
        for target in &file.defaults.storage {
            if !file.storage.contains_key(target) {
                return Err(invalid(format!(
                    "defaults.storage: no [storage.{target}] table is defined"
                )));
            }
        }
        let catalog = catalog_settings(&file.catalog).map_err(invalid)?;
        let storage_keys = storage_keys(&file.storage, env);
        let http = HttpSettings::from_section(&file.http).map_err(invalid)?;
        Ok(Config {
            catalog,
            http,
            providers,
            storage_keys,
            storage: file.storage,
            default_storage: file.defaults.storage,
            outputs: file.outputs,
            source: Some(path.to_path_buf()),
        })
    }
}

/// The parsed file, and whether others may read it; a missing file is all defaults.
fn read_file(path: &Path) -> Result<(ConfigFile, bool), ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let file = parse(&text).map_err(|message| ConfigError::Invalid {
                path: path.to_path_buf(),
                message,
            })?;
            Ok((file, genq_protocol::credentials::readable_by_others(path)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok((ConfigFile::default(), false)),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// An http:// or https:// URL without its trailing slash; the error names the key `at`.
fn http_url(at: &str, url: &str) -> Result<String, String> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!("{at}: {url:?} is not an http:// or https:// URL"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// A provider's limits with the table's overrides applied, and its `typical_s`.
fn provider_limits(
    name: &str,
    section: &ProviderSection,
    mut limits: Limits,
) -> Result<(Limits, Option<Duration>), String> {
    let at = |key: &str| format!("providers.{name}.{key}");
    if let Some(n) = section.max_concurrent {
        if n == 0 || n > 1000 {
            return Err(format!("{}: {n} is not in 1..=1000", at("max_concurrent")));
        }
        limits.max_concurrent = n;
    }
    if let Some(r) = section.requests_per_second {
        if !(r > 0.0 && r <= 10_000.0) {
            return Err(format!(
                "{}: {r} is not in (0, 10000]",
                at("requests_per_second")
            ));
        }
        limits.requests_per_second = r;
    }
    if let Some(t) = section.timeout_s {
        if t == 0 {
            return Err(format!("{}: must be at least 1", at("timeout_s")));
        }
        limits.timeout = Duration::from_secs(t);
    }
    let typical = match section.typical_s {
        None => None,
        Some(t) if t > 0.0 && t <= 86_400.0 => Some(Duration::from_secs_f64(t)),
        Some(t) => {
            return Err(format!(
                "{}: {t} is not in (0, 86400] seconds",
                at("typical_s")
            ));
        }
    };
    Ok((limits, typical))
}

/// `[catalog]`: the LoRA sources' sites and the NSFW switch.
fn catalog_settings(section: &CatalogSection) -> Result<CatalogSettings, String> {
    let mut catalog = CatalogSettings {
        nsfw: section.nsfw,
        ..CatalogSettings::default()
    };
    for (name, site, slot) in [
        (
            "modelscope",
            &section.modelscope,
            &mut catalog.modelscope_base_url,
        ),
        ("civitai", &section.civitai, &mut catalog.civitai_base_url),
        (
            "huggingface",
            &section.huggingface,
            &mut catalog.huggingface_base_url,
        ),
    ] {
        if let Some(url) = &site.base_url {
            *slot = http_url(&format!("catalog.{name}.base_url"), url)?;
        }
    }
    Ok(catalog)
}

/// Each storage target's credentials, read now so that no upload runs a key command.
fn storage_keys(
    storage: &BTreeMap<String, StorageSection>,
    env: &dyn Fn(&str) -> Option<String>,
) -> BTreeMap<String, Result<StorageKeys, String>> {
    storage
        .iter()
        .map(|(name, section)| (name.clone(), credentials::storage_keys(section, env)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Registry;

    #[test]
    fn secret_values_hold_every_provider_key_and_storage_credential() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let config = dir.path().join("config.toml");
        std::fs::write(
            &config,
            "[providers.modelscope]\napi_key_env = \"MS\"\n\
             [storage.s3]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"b\"\n\
             region = \"r\"\naccess_key_env = \"AK\"\nsecret_key_env = \"SK\"\n",
        )
        .expect("write the config");
        let env = |k: &str| match k {
            "MS" => Some("ms-key-1".to_string()),
            "AK" => Some("access-2".to_string()),
            "SK" => Some("secret-3".to_string()),
            _ => None,
        };
        let loaded = Config::load_with_env(
            &config,
            &dir.path().join("credentials.toml"),
            &Registry::builtin(),
            &env,
        )
        .expect("a valid config");
        let mut values = loaded.secret_values();
        values.sort();
        assert_eq!(values, ["access-2", "ms-key-1", "secret-3"]);
    }
}
