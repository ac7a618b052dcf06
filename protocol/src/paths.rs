//! Where genq keeps its files, derived the same way by the daemon and every client.
//!
//! `GENQ_HOME=DIR` puts everything under one directory (tests, isolated instances);
//! otherwise the XDG base directories decide, with `/tmp/genq-$UID/` for the socket when
//! `XDG_RUNTIME_DIR` is unset.

use std::path::{Path, PathBuf};

/// Socket paths longer than this do not fit in `sockaddr_un` on every platform.
pub const MAX_SOCKET_PATH: usize = 100;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Paths {
    /// Set when `GENQ_HOME` chose the layout.
    pub home: Option<PathBuf>,
    pub config: PathBuf,
    /// Provider keys stored by `genq auth set`, beside the config; private to the user.
    pub credentials: PathBuf,
    pub db: PathBuf,
    /// Decides which daemon owns this database.
    pub lock: PathBuf,
    pub outputs: PathBuf,
    pub cache: PathBuf,
    pub socket: PathBuf,
    pub log_dir: PathBuf,
}

impl Paths {
    /// Resolves the layout from the process environment.
    pub fn from_env(uid: u32) -> Paths {
        Paths::resolve(
            |k| {
                std::env::var_os(k)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            },
            uid,
        )
    }

    /// Resolves the layout from `var` (an environment lookup), for tests.
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>, uid: u32) -> Paths {
        if let Some(home) = var("GENQ_HOME") {
            let socket = home.join("run").join("genq.sock");
            let socket = if socket.as_os_str().len() <= MAX_SOCKET_PATH {
                socket
            } else {
                short_socket_path(&home, uid)
            };
            return Paths {
                config: home.join("config.toml"),
                credentials: home.join("credentials.toml"),
                db: home.join("genq.db"),
                lock: home.join("genq.lock"),
                outputs: home.join("outputs"),
                cache: home.join("cache"),
                log_dir: home.join("logs"),
                socket,
                home: Some(home),
            };
        }
        let user_home = var("HOME").unwrap_or_else(|| PathBuf::from("/tmp"));
        let xdg =
            |name: &str, fallback: &str| var(name).unwrap_or_else(|| user_home.join(fallback));
        let config = xdg("XDG_CONFIG_HOME", ".config").join("genq");
        let data = xdg("XDG_DATA_HOME", ".local/share").join("genq");
        let cache = xdg("XDG_CACHE_HOME", ".cache").join("genq");
        let state = xdg("XDG_STATE_HOME", ".local/state").join("genq");
        let socket = match var("XDG_RUNTIME_DIR") {
            Some(run) => run.join("genq").join("genq.sock"),
            None => fallback_runtime_dir(uid).join("genq.sock"),
        };
        Paths {
            home: None,
            config: config.join("config.toml"),
            credentials: config.join("credentials.toml"),
            db: data.join("genq.db"),
            lock: data.join("genq.lock"),
            outputs: data.join("outputs"),
            cache,
            log_dir: state,
            socket,
        }
    }

    /// The directory holding the socket; created `0700` by the daemon.
    pub fn socket_dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("/"))
    }

    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join("daemon.log")
    }
}

/// `/tmp/genq-$UID`, the runtime directory when `XDG_RUNTIME_DIR` is unset.
pub fn fallback_runtime_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/genq-{uid}"))
}

/// A socket path for a home whose own path is too long: a stable name derived from it in the
/// fallback runtime directory.
fn short_socket_path(home: &Path, uid: u32) -> PathBuf {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in home.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    fallback_runtime_dir(uid).join(format!("genq-{h:016x}.sock"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<PathBuf> {
        let map: HashMap<String, PathBuf> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), PathBuf::from(v)))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn genq_home_holds_everything() {
        let p = Paths::resolve(
            env(&[("GENQ_HOME", "/h"), ("XDG_RUNTIME_DIR", "/run/u")]),
            1000,
        );
        assert_eq!(p.db, PathBuf::from("/h/genq.db"));
        assert_eq!(p.socket, PathBuf::from("/h/run/genq.sock"));
        assert_eq!(p.config, PathBuf::from("/h/config.toml"));
        assert_eq!(p.credentials, PathBuf::from("/h/credentials.toml"));
        assert_eq!(p.log_file(), PathBuf::from("/h/logs/daemon.log"));
    }

    #[test]
    fn without_runtime_dir_the_socket_goes_to_tmp_per_uid() {
        let p = Paths::resolve(env(&[("HOME", "/home/u")]), 1234);
        assert_eq!(p.socket, PathBuf::from("/tmp/genq-1234/genq.sock"));
        assert_eq!(p.db, PathBuf::from("/home/u/.local/share/genq/genq.db"));
        assert_eq!(p.config, PathBuf::from("/home/u/.config/genq/config.toml"));
        assert_eq!(
            p.log_file(),
            PathBuf::from("/home/u/.local/state/genq/daemon.log")
        );
    }

    #[test]
    fn a_long_home_gets_a_short_stable_socket() {
        let long = format!("/{}", "d".repeat(120));
        let a = Paths::resolve(env(&[("GENQ_HOME", &long)]), 7);
        let b = Paths::resolve(env(&[("GENQ_HOME", &long)]), 7);
        assert_eq!(a.socket, b.socket);
        assert!(a.socket.as_os_str().len() <= MAX_SOCKET_PATH);
        assert!(a.socket.starts_with("/tmp/genq-7"));
    }
}
