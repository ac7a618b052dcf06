//! The config in force: `config.toml` and the stored keys resolved against the defaults of
//! each provider the daemon knows.

use super::credentials::{self, KeySearch, KeySource, StorageKeys};
use super::file::{
    CatalogSection, ConfigFile, OutputsSection, ProviderSection, StorageSection, parse,
};
use super::http::HttpSettings;
use crate::secret::Secret;
use genq_protocol::files::{FileError, read_optional};
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
    /// An instance named after the type exists without a table of its own (the first
    /// three providers genq shipped); other types exist only where a table names them.
    pub implicit: bool,
}

/// The provider types a config may name. The provider registry implements it, so the config
/// knows providers only through this and sits below them.
pub trait KnownProviders {
    fn provider_names(&self) -> Vec<&'static str>;
    fn provider_defaults(&self, name: &str) -> Option<ProviderDefaults>;
}

/// A provider instance's settings after defaults and the key were resolved.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// The instance's type (`modelscope`, `openai`, …); its name is the key it is kept under.
    pub provider_type: String,
    /// The table as written, for the options only its type reads.
    pub section: ProviderSection,
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
    /// Provider instances by name.
    pub providers: BTreeMap<String, ProviderSettings>,
    pub storage: BTreeMap<String, StorageSection>,
    /// Each storage target's credentials, read once when the config loaded (or why they
    /// could not be).
    pub storage_keys: BTreeMap<String, Result<StorageKeys, String>>,
    pub default_storage: Vec<String>,
    pub outputs: OutputsSection,
    pub source: Option<PathBuf>,
    pub catalog: CatalogSettings,
    /// `[styles.NAME]`, for batches.
    pub styles: BTreeMap<String, super::batch::StyleSection>,
    /// `[batch]`: the inbox folder.
    pub batch: super::batch::BatchSection,
    pub http: HttpSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    File(#[from] FileError),
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
        let invalid = |message: String| FileError::invalid(path, message);

        let mut providers = BTreeMap::new();
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, provider_type, mut section) in instances(&file, registry).map_err(invalid)? {
            super::workflows::load(&name, &mut section, dir).map_err(invalid)?;
            let Some(defaults) = registry.provider_defaults(&provider_type) else {
                continue;
            };
            let base_url = http_url(
                &format!("providers.{name}.base_url"),
                section.base_url.as_deref().unwrap_or(defaults.base_url),
            )
            .map_err(invalid)?;
            let (limits, typical) =
                provider_limits(&name, &section, defaults.limits).map_err(invalid)?;
            // The type's usual variables hold the key of the instance named after the type,
            // never another account's.
            let default_env = if name == provider_type {
                defaults.key_env_vars
            } else {
                &[]
            };
            let resolved = credentials::provider_key(
                &name,
                &section,
                default_env,
                env,
                &stored,
                credentials,
                readable_by_others,
            )
            .map_err(invalid)?;
            providers.insert(
                name,
                ProviderSettings {
                    provider_type,
                    section,
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
                ))
                .into());
            }
        }
        let catalog = catalog_settings(&file.catalog).map_err(invalid)?;
        super::batch::check(&file.batch).map_err(invalid)?;
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
            styles: file.styles,
            batch: file.batch,
        })
    }
}

/// Every provider instance the config defines: the implicit ones named after their type,
/// then each `[providers.NAME]` table, as (name, type, table).
fn instances(
    file: &ConfigFile,
    registry: &dyn KnownProviders,
) -> Result<Vec<(String, String, ProviderSection)>, String> {
    let types = registry.provider_names();
    let mut found: BTreeMap<String, (String, ProviderSection)> = types
        .iter()
        .filter(|t| registry.provider_defaults(t).is_some_and(|d| d.implicit))
        .map(|t| (t.to_string(), (t.to_string(), ProviderSection::default())))
        .collect();
    for (name, section) in &file.providers {
        check_instance_name(name)?;
        let provider_type = match &section.provider_type {
            Some(t) if types.contains(&t.as_str()) => t.clone(),
            Some(t) => {
                return Err(format!(
                    "providers.{name}.type: unknown provider type {t:?}; known: {}",
                    types.join(", ")
                ));
            }
            None if types.contains(&name.as_str()) => name.clone(),
            None => {
                return Err(format!(
                    "[providers.{name}]: set type to one of {} (only a table named after \
                     its type may leave it out)",
                    types.join(", ")
                ));
            }
        };
        if types.contains(&name.as_str()) && *name != provider_type {
            return Err(format!(
                "providers.{name}.type: a table named after the type {name} cannot be of \
                 type {provider_type}; give this instance another name"
            ));
        }
        only_for_type(name, &provider_type, section)?;
        found.insert(name.clone(), (provider_type, section.clone()));
    }
    Ok(found.into_iter().map(|(n, (t, s))| (n, t, s)).collect())
}

/// Refuses the keys of one type in the table of another, naming them.
fn only_for_type(name: &str, provider_type: &str, section: &ProviderSection) -> Result<(), String> {
    let typed_keys = [
        ("models", "openai", section.models.is_some()),
        ("edit_models", "openai", section.edit_models.is_some()),
        ("params", "openai", section.params.is_some()),
        (
            "request_timeout_s",
            "openai",
            section.request_timeout_s.is_some(),
        ),
        ("workflows", "comfyui", section.workflows.is_some()),
        ("lost_grace_s", "comfyui", section.lost_grace_s.is_some()),
    ];
    if section.request_timeout_s == Some(0) {
        return Err(format!(
            "providers.{name}.request_timeout_s: must be at least 1"
        ));
    }
    match typed_keys
        .iter()
        .find(|(_, t, set)| *set && *t != provider_type)
    {
        Some((key, t, _)) => Err(format!(
            "providers.{name}.{key}: only a provider of type {t} takes it (this one is \
             {provider_type})"
        )),
        None => Ok(()),
    }
}

/// Instance names appear in commands, job records and catalog keys: lowercase letters,
/// digits, `-` and `_`, starting with a letter, at most 40.
fn check_instance_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if ok {
        return Ok(());
    }
    Err(format!(
        "[providers.{name}]: a provider name is 1 to 40 lowercase letters, digits, - or _, \
         starting with a letter"
    ))
}

/// The parsed file, and whether others may read it; a missing file is all defaults.
fn read_file(path: &Path) -> Result<(ConfigFile, bool), ConfigError> {
    let Some(text) = read_optional(path)? else {
        return Ok((ConfigFile::default(), false));
    };
    let file = parse(&text).map_err(|message| FileError::invalid(path, message))?;
    Ok((file, genq_protocol::credentials::readable_by_others(path)))
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

    fn load(config: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Config, String> {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("config.toml");
        std::fs::write(&path, config).expect("write the config");
        std::fs::write(
            dir.path().join("w.json"),
            r#"{"6": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}}}"#,
        )
        .expect("write the workflow");
        Config::load_with_env(
            &path,
            &dir.path().join("credentials.toml"),
            &Registry::builtin(),
            env,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn named_instances_have_their_own_type_settings_and_key() {
        let env = |k: &str| match k {
            "MODELSCOPE_API_TOKEN" => Some("first-account".to_string()),
            "MS2" => Some("second-account".to_string()),
            _ => None,
        };
        let c = load(
            "[providers.ms2]\ntype = \"modelscope\"\napi_key_env = \"MS2\"\nmax_concurrent = 3\n\
             [providers.ms3]\ntype = \"modelscope\"\n",
            &env,
        )
        .expect("a valid config");
        let ms2 = &c.providers["ms2"];
        assert_eq!(ms2.provider_type, "modelscope");
        assert_eq!(ms2.limits.max_concurrent, 3);
        assert_eq!(ms2.key.as_ref().map(|k| k.expose()), Some("second-account"));
        assert_eq!(c.providers["modelscope"].limits.max_concurrent, 1);
        // Another account never falls back to the type's usual variable.
        assert!(c.providers["ms3"].key.is_none());
        assert!(
            !c.providers.contains_key("openai"),
            "only tables make openai instances"
        );
    }

    #[test]
    fn instance_tables_are_checked_naming_the_key() {
        let none = |_: &str| None;
        for (config, says) in [
            ("[providers.work]\n", "[providers.work]: set type"),
            (
                "[providers.work]\ntype = \"nope\"\n",
                "providers.work.type: unknown provider type",
            ),
            ("[providers.Work]\ntype = \"openai\"\n", "lowercase letters"),
            (
                "[providers.tripo]\ntype = \"openai\"\n",
                "providers.tripo.type",
            ),
            (
                "[providers.modelscope]\nmodels = [\"a\"]\n",
                "providers.modelscope.models: only",
            ),
            (
                "[providers.oa]\ntype = \"openai\"\nworkflows = {}\n",
                "providers.oa.workflows: only",
            ),
            (
                "[providers.c]\ntype = \"comfyui\"\n[providers.c.workflows.w]\nfile = \"w.json\"\n\
                 prompt = \"6.inputs.txt\"\n",
                "providers.c.workflows.w.prompt",
            ),
            (
                "[providers.c]\ntype = \"comfyui\"\n[providers.c.workflows.w]\nfile = \"none.json\"\n",
                "providers.c.workflows.w.file: cannot read",
            ),
        ] {
            let e = load(config, &none).expect_err(config);
            assert!(e.contains(says), "{config}: {e}");
        }
        let c = load(
            "[providers.c]\ntype = \"comfyui\"\n[providers.c.workflows.w]\nfile = \"w.json\"\n\
             prompt = \"6.inputs.text\"\n",
            &none,
        )
        .expect("a valid workflow");
        assert!(
            c.providers["c"].section.workflows.as_ref().unwrap()["w"]
                .graph
                .is_some()
        );
        assert_eq!(c.providers["c"].base_url, "http://127.0.0.1:8188");
    }
}
