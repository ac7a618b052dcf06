//! Where the daemon finds each secret: provider keys (the config, `credentials.toml`, the
//! environment, `api_key_cmd`) and storage credentials (`*_key_env`, `*_key_cmd`).
//!
//! A provider's key is the first of:
//! 1. what `[providers.NAME]` in `config.toml` names explicitly (`api_key_env` when that
//!    variable is set, `api_key_cmd`, `api_key`): a deliberate choice for this provider;
//! 2. the key stored by `genq auth set NAME` in `credentials.toml`;
//! 3. the provider's usual variables (`MODELSCOPE_API_TOKEN`, …) in the daemon's environment,
//!    unless the config named a variable of its own.
//!
//! The stored key beats the usual variables because the daemon's environment is the one of
//! whichever shell started it, while the stored key is what the user last said.
//!
//! Key commands run here only, when the config loads (at start before the async runtime, on
//! reload on a blocking thread); their output is cached in the config in force.

use super::file::{ProviderSection, StorageSection};
use crate::secret::Secret;
use genq_protocol::Credentials;
use std::path::{Path, PathBuf};

/// Where a provider's key comes from, as shown to users (never the key itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    Env(String),
    Command,
    ConfigFile,
    CredentialsFile,
    None,
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Env(v) => write!(f, "env {v}"),
            KeySource::Command => f.write_str("api_key_cmd"),
            KeySource::ConfigFile => f.write_str("config file"),
            KeySource::CredentialsFile => f.write_str("credentials file"),
            KeySource::None => f.write_str("none"),
        }
    }
}

/// Where the daemon looked for a provider's key, for the message when it found none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeySearch {
    /// The variable `api_key_env` names, when the config sets it.
    pub config_env: Option<String>,
    pub credentials: PathBuf,
    /// The provider's usual variables, looked in when the config names none.
    pub default_env: Vec<String>,
}

impl KeySearch {
    /// Every environment variable looked in, in order.
    pub fn env_vars(&self) -> Vec<String> {
        self.config_env
            .iter()
            .chain(&self.default_env)
            .cloned()
            .collect()
    }

    /// Why a job for `provider` cannot be sent, where the key was looked for, and the fix.
    pub fn missing_key_message(&self, provider: &str) -> String {
        let mut places = Vec::new();
        if let Some(var) = &self.config_env {
            places.push(format!(
                "${var} (providers.{provider}.api_key_env in config.toml)"
            ));
        }
        places.push(format!("{} (genq auth)", self.credentials.display()));
        places.extend(self.default_env.iter().map(|v| format!("${v}")));
        format!(
            "no API key for {provider}: the daemon looked in {}. Store one with \
             `genq auth set {provider}`, or set the variable and run `genq daemon restart` \
             from that shell",
            places.join(", ")
        )
    }
}

/// A provider's key, where it came from, and where it was looked for.
pub struct ResolvedKey {
    pub key: Option<Secret>,
    pub source: KeySource,
    pub search: KeySearch,
}

/// Resolves `name`'s key in the order the module documents. `stored` is the parsed
/// credentials file; `config_exposed` says whether `config.toml` is readable by others (an
/// `api_key` in it is then refused).
pub fn provider_key(
    name: &str,
    section: &ProviderSection,
    default_env: &[&str],
    env: &dyn Fn(&str) -> Option<String>,
    stored: &Credentials,
    credentials: &Path,
    config_exposed: bool,
) -> Result<ResolvedKey, String> {
    let set = [
        section.api_key_env.is_some(),
        section.api_key_cmd.is_some(),
        section.api_key.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(format!(
            "providers.{name}: set only one of api_key_env, api_key_cmd, api_key"
        ));
    }
    let search = KeySearch {
        config_env: section.api_key_env.clone(),
        credentials: credentials.to_path_buf(),
        default_env: if section.api_key_env.is_some() {
            Vec::new()
        } else {
            default_env.iter().map(|v| v.to_string()).collect()
        },
    };
    let found = |key: Secret, source: KeySource| ResolvedKey {
        key: Some(key),
        source,
        search: search.clone(),
    };
    if let Some(var) = &section.api_key_env
        && let Some(key) = env_secret(var, env)
    {
        return Ok(found(key, KeySource::Env(var.clone())));
    }
    if let Some(cmd) = &section.api_key_cmd {
        let key = run_key_cmd(cmd).map_err(|e| format!("providers.{name}.api_key_cmd: {e}"))?;
        return Ok(found(key, KeySource::Command));
    }
    if let Some(key) = &section.api_key {
        if config_exposed {
            return Err(format!(
                "providers.{name}.api_key: the config file is readable by group or others; \
                 chmod 600 it, or use `genq auth set {name}`"
            ));
        }
        return Ok(found(Secret::new(key.trim()), KeySource::ConfigFile));
    }
    if let Some(key) = stored.get(name) {
        return Ok(found(Secret::new(key), KeySource::CredentialsFile));
    }
    for var in &search.default_env {
        if let Some(key) = env_secret(var, env) {
            return Ok(found(key, KeySource::Env(var.clone())));
        }
    }
    // Nothing found: name the source the user chose, else say there is none.
    let source = match &section.api_key_env {
        Some(var) => KeySource::Env(var.clone()),
        None => KeySource::None,
    };
    Ok(ResolvedKey {
        key: None,
        source,
        search,
    })
}

/// A storage target's credentials, read when the config loads.
#[derive(Clone, Debug, Default)]
pub struct StorageKeys {
    pub access: Option<Secret>,
    pub secret: Option<Secret>,
}

/// Reads an S3 target's `access_key_*` and `secret_key_*`; other targets have none. The
/// error names the setting, never the value.
pub fn storage_keys(
    section: &StorageSection,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StorageKeys, String> {
    let StorageSection::S3 {
        access_key_env,
        secret_key_env,
        access_key_cmd,
        secret_key_cmd,
        ..
    } = section
    else {
        return Ok(StorageKeys::default());
    };
    Ok(StorageKeys {
        access: storage_credential(
            "access_key",
            access_key_env.as_ref(),
            access_key_cmd.as_ref(),
            env,
        )?,
        secret: storage_credential(
            "secret_key",
            secret_key_env.as_ref(),
            secret_key_cmd.as_ref(),
            env,
        )?,
    })
}

fn storage_credential(
    what: &str,
    env_var: Option<&String>,
    cmd: Option<&String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, String> {
    match (env_var, cmd) {
        (Some(_), Some(_)) => Err(format!("set only one of {what}_env and {what}_cmd")),
        (Some(var), None) => env_secret(var, env).map(Some).ok_or_else(|| {
            format!("{what}_env names the environment variable {var}, which is not set or empty")
        }),
        (None, Some(cmd)) => run_key_cmd(cmd)
            .map(Some)
            .map_err(|e| format!("{what}_cmd: {e}")),
        (None, None) => Ok(None),
    }
}

fn env_secret(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<Secret> {
    env(var)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

/// Runs a key command with `sh -c` and returns what it printed, trimmed. Blocks: call it
/// only while the config loads, never on the async runtime.
pub fn run_key_cmd(cmd: &str) -> Result<Secret, String> {
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run it: {e}"))?;
    if !out.status.success() {
        return Err(format!("the command exited with {}", out.status));
    }
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if key.is_empty() {
        return Err("the command printed nothing".into());
    }
    Ok(Secret::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(toml: &str) -> ProviderSection {
        toml::from_str(toml).unwrap()
    }

    fn stored(key: &str) -> Credentials {
        let mut c = Credentials::default();
        c.set("modelscope", key).unwrap();
        c
    }

    fn resolve(
        s: &ProviderSection,
        env: &dyn Fn(&str) -> Option<String>,
        c: &Credentials,
    ) -> ResolvedKey {
        provider_key(
            "modelscope",
            s,
            &["MODELSCOPE_API_TOKEN"],
            env,
            c,
            Path::new("/h/credentials.toml"),
            false,
        )
        .unwrap()
    }

    #[test]
    fn genq_auth_knows_every_provider_of_the_registry() {
        let registry = crate::providers::Registry::builtin();
        let mut names: Vec<_> = registry.names().collect();
        names.sort_unstable();
        let mut known = genq_protocol::credentials::PROVIDERS.to_vec();
        known.sort_unstable();
        assert_eq!(names, known);
    }

    #[test]
    fn the_config_beats_the_stored_key_which_beats_the_usual_variable() {
        let env = |k: &str| match k {
            "MINE" => Some("from-mine".to_string()),
            "MODELSCOPE_API_TOKEN" => Some("from-default".to_string()),
            _ => None,
        };
        let r = resolve(&section("api_key_env = \"MINE\""), &env, &stored("stored"));
        assert_eq!(r.key.unwrap().expose(), "from-mine");
        assert_eq!(r.source, KeySource::Env("MINE".into()));
        let r = resolve(&section(""), &env, &stored("stored"));
        assert_eq!(r.key.unwrap().expose(), "stored");
        assert_eq!(r.source, KeySource::CredentialsFile);
        let r = resolve(&section(""), &env, &Credentials::default());
        assert_eq!(r.source, KeySource::Env("MODELSCOPE_API_TOKEN".into()));
        // A named variable that is unset falls back to the stored key, not the usual one.
        let r = resolve(&section("api_key_env = \"UNSET\""), &env, &stored("stored"));
        assert_eq!(r.source, KeySource::CredentialsFile);
        let r = resolve(
            &section("api_key_env = \"UNSET\""),
            &env,
            &Credentials::default(),
        );
        assert!(r.key.is_none());
        assert_eq!(r.search.env_vars(), vec!["UNSET".to_string()]);
    }

    #[test]
    fn the_missing_key_message_names_every_place_and_the_fix() {
        let r = resolve(
            &section("api_key_env = \"GENQ_FAKE_MODELSCOPE_KEY\""),
            &|_| None,
            &Credentials::default(),
        );
        let m = r.search.missing_key_message("modelscope");
        assert!(m.contains("$GENQ_FAKE_MODELSCOPE_KEY"), "{m}");
        assert!(!m.contains("MODELSCOPE_API_TOKEN"), "{m}");
        assert!(m.contains("/h/credentials.toml"), "{m}");
        assert!(m.contains("genq auth set modelscope"), "{m}");
        assert!(m.contains("genq daemon restart"), "{m}");
    }

    #[test]
    fn key_commands_run_once_and_their_failures_name_the_setting() {
        let r = resolve(
            &section("api_key_cmd = \"echo ' k3y '\""),
            &|_| None,
            &Credentials::default(),
        );
        assert_eq!(r.key.unwrap().expose(), "k3y");
        assert_eq!(r.source, KeySource::Command);
        let e = provider_key(
            "modelscope",
            &section("api_key_cmd = \"exit 3\""),
            &[],
            &|_| None,
            &Credentials::default(),
            Path::new("/x"),
            false,
        )
        .err()
        .unwrap();
        assert!(e.contains("providers.modelscope.api_key_cmd") && e.contains("exited"));
    }

    #[test]
    fn storage_credentials_come_from_env_or_a_command_and_never_show() {
        let s3 = |extra: &str| -> StorageSection {
            toml::from_str(&format!(
                "type = \"s3\"\nendpoint = \"http://x\"\nbucket = \"b\"\n{extra}"
            ))
            .unwrap()
        };
        let env = |k: &str| (k == "AK").then(|| "AKIDSECRETVALUE".to_string());
        let keys = storage_keys(
            &s3("access_key_env = \"AK\"\nsecret_key_cmd = \"echo s3cr3t\""),
            &env,
        )
        .unwrap();
        assert_eq!(keys.access.unwrap().expose(), "AKIDSECRETVALUE");
        assert_eq!(keys.secret.unwrap().expose(), "s3cr3t");
        let e = storage_keys(&s3("secret_key_env = \"MISSING\""), &env).unwrap_err();
        assert!(e.contains("MISSING"), "{e}");
        let e = storage_keys(&s3("secret_key_cmd = \"exit 3\""), &env).unwrap_err();
        assert!(e.contains("exited"), "{e}");
    }
}
