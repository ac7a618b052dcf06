//! `--host` / `GENQ_HOST`: which daemon the command talks to. An `ssh://` URL, or the name of
//! a `[hosts.NAME]` table of this machine's config.toml:
//!
//! ```toml
//! [hosts.gpu]
//! url = "ssh://me@gpu.lan"
//! genq = "/opt/genq/bin/genq"   # the remote command, when genq is not on the remote PATH
//! ```

use super::error::CliError;
use crate::client::{Endpoint, SshHost};
use genq_protocol::Paths;
use std::sync::Arc;

/// The daemon this command uses: the local one without `--host`.
pub fn endpoint(host: Option<&str>, paths: &Paths) -> Result<Endpoint, CliError> {
    let Some(host) = host.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(Endpoint::Local(Arc::new(paths.clone())));
    };
    let parsed = if host.contains("://") {
        SshHost::parse(host, None)
    } else {
        named(host, paths)?
    };
    parsed
        .map(Endpoint::Ssh)
        .map_err(|e| CliError::Usage(format!("--host: {e}")))
}

/// A `[hosts.NAME]` table of config.toml.
fn named(name: &str, paths: &Paths) -> Result<Result<SshHost, String>, CliError> {
    let config = paths.config.display();
    let text = std::fs::read_to_string(&paths.config).unwrap_or_default();
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| CliError::Usage(format!("--host {name}: cannot read {config}: {e}")))?;
    let hosts = table.get("hosts").and_then(toml::Value::as_table);
    let Some(entry) = hosts.and_then(|h| h.get(name)) else {
        let known: Vec<&str> = hosts
            .map(|h| h.keys().map(String::as_str).collect())
            .unwrap_or_default();
        return Err(CliError::Usage(format!(
            "--host {name:?} is neither an ssh:// URL nor a [hosts.{name}] table of {config} \
             (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        )));
    };
    let field = |key: &str| -> Result<Option<String>, CliError> {
        match entry.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(CliError::Usage(format!(
                "[hosts.{name}] {key} in {config} must be a string"
            ))),
        }
    };
    if let Some(unknown) = entry
        .as_table()
        .and_then(|t| t.keys().find(|k| !["url", "genq"].contains(&k.as_str())))
    {
        return Err(CliError::Usage(format!(
            "[hosts.{name}] in {config}: unknown key {unknown:?}; allowed: url, genq"
        )));
    }
    let url = field("url")?.ok_or_else(|| {
        CliError::Usage(format!(
            "[hosts.{name}] in {config} needs url = \"ssh://[user@]host[:port]\""
        ))
    })?;
    Ok(SshHost::parse(&url, field("genq")?).map_err(|e| format!("[hosts.{name}] url: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths_with(config: &str) -> (tempfile::TempDir, Paths) {
        let home = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(|k| (k == "GENQ_HOME").then(|| home.path().to_path_buf()), 0);
        std::fs::create_dir_all(paths.config.parent().unwrap()).unwrap();
        std::fs::write(&paths.config, config).unwrap();
        (home, paths)
    }

    #[test]
    fn named_hosts_come_from_the_config() {
        let (_home, paths) = paths_with(
            "[hosts.gpu]\nurl = \"ssh://me@gpu.lan:2200\"\ngenq = \"/opt/genq/bin/genq\"\n",
        );
        let Endpoint::Ssh(host) = endpoint(Some("gpu"), &paths).unwrap() else {
            panic!("not remote")
        };
        assert_eq!(host.destination, "me@gpu.lan");
        assert_eq!(host.port, Some(2200));
        assert_eq!(host.genq, "/opt/genq/bin/genq");
        assert!(matches!(endpoint(None, &paths), Ok(Endpoint::Local(_))));
        let err = endpoint(Some("cpu"), &paths).unwrap_err().to_string();
        assert!(err.contains("known: gpu"), "{err}");
        let err = endpoint(Some("ftp://x"), &paths).unwrap_err().to_string();
        assert!(err.starts_with("--host:"), "{err}");
    }

    #[test]
    fn a_host_table_is_checked() {
        let (_home, paths) = paths_with("[hosts.gpu]\nurl = \"ssh://gpu\"\nport = 22\n");
        let err = endpoint(Some("gpu"), &paths).unwrap_err().to_string();
        assert!(err.contains("unknown key \"port\""), "{err}");
        let (_home, paths) = paths_with("[hosts.gpu]\ngenq = \"/x\"\n");
        let err = endpoint(Some("gpu"), &paths).unwrap_err().to_string();
        assert!(err.contains("needs url"), "{err}");
    }
}
