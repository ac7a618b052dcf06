//! Where genq keeps its files, derived the same way by the daemon and every client.
//!
//! `GENQ_HOME=DIR` puts everything under one directory (tests, isolated instances);
//! otherwise the XDG base directories decide, with `/tmp/genq-$UID/` for the socket when
//! `XDG_RUNTIME_DIR` is unset.
//!
//! `/tmp` is shared, so another user may create `/tmp/genq-$UID` first. Both sides check
//! the socket's directory with [`inspect_socket_dir`] before using it, and when the shared
//! one belongs to someone else, [`Paths::from_env`] moves the socket to a directory under
//! the user's own state directory: every process of the user reaches the same answer.

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
    /// Where the socket goes instead when its directory is the shared `/tmp` one and
    /// someone else holds it; `None` when the socket is not in a shared place.
    pub socket_alternative: Option<PathBuf>,
    /// Why the socket is not in its usual place, when it was moved.
    pub socket_moved: Option<UnsafeDir>,
}

impl Paths {
    /// Resolves the layout from the process environment, moving the socket out of a shared
    /// directory that someone else holds (see [`Paths::settle_socket`]).
    pub fn from_env(uid: u32) -> Paths {
        let mut paths = Paths::resolve(
            |k| {
                std::env::var_os(k)
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            },
            uid,
        );
        paths.settle_socket(uid);
        paths
    }

    /// Resolves the layout from `var` (an environment lookup), for tests.
    pub fn resolve(var: impl Fn(&str) -> Option<PathBuf>, uid: u32) -> Paths {
        Paths::resolve_in(var, uid, Path::new(SHARED_TMP))
    }

    /// [`Paths::resolve`] with the shared temporary directory given, so tests need not
    /// touch the real `/tmp/genq-$UID`.
    pub fn resolve_in(var: impl Fn(&str) -> Option<PathBuf>, uid: u32, tmp: &Path) -> Paths {
        let shared = shared_runtime_dir(tmp, uid);
        if let Some(home) = var("GENQ_HOME") {
            let socket = home.join("run").join("genq.sock");
            let socket = if socket.as_os_str().len() <= MAX_SOCKET_PATH {
                socket
            } else {
                short_socket_path(&shared, &home)
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
                // A long home has no short private place for its socket.
                socket_alternative: None,
                socket_moved: None,
            };
        }
        let user_home = var("HOME").unwrap_or_else(|| PathBuf::from("/tmp"));
        let xdg =
            |name: &str, fallback: &str| var(name).unwrap_or_else(|| user_home.join(fallback));
        let config = xdg("XDG_CONFIG_HOME", ".config").join("genq");
        let data = xdg("XDG_DATA_HOME", ".local/share").join("genq");
        let cache = xdg("XDG_CACHE_HOME", ".cache").join("genq");
        let state = xdg("XDG_STATE_HOME", ".local/state").join("genq");
        let (socket, socket_alternative) = match var("XDG_RUNTIME_DIR") {
            Some(run) => (run.join("genq").join("genq.sock"), None),
            None => {
                let own = state.join("run").join("genq.sock");
                let own = (own.as_os_str().len() <= MAX_SOCKET_PATH).then_some(own);
                (shared.join("genq.sock"), own)
            }
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
            socket_alternative,
            socket_moved: None,
        }
    }

    /// Moves the socket to [`Paths::socket_alternative`] when its shared directory exists
    /// but cannot be ours to use (a link, not a directory, another owner). A directory that
    /// is ours but open to others stays: the daemon makes it private again.
    pub fn settle_socket(&mut self, euid: u32) {
        let Some(alternative) = self.socket_alternative.clone() else {
            return;
        };
        if let Err(unsafe_dir) = inspect_socket_dir(self.socket_dir(), euid)
            && !matches!(unsafe_dir.problem, DirProblem::OpenToOthers { .. })
        {
            self.socket = alternative;
            self.socket_moved = Some(unsafe_dir);
        }
    }

    /// The directory holding the socket; created `0700` by the daemon.
    pub fn socket_dir(&self) -> &Path {
        self.socket.parent().unwrap_or(Path::new("/"))
    }

    pub fn log_file(&self) -> PathBuf {
        self.log_dir.join("daemon.log")
    }

    /// Where the daemon moves its socket when the usual directory is gone and cannot be made
    /// again (the runtime directory removed at logout): beside the lock, in this home's own
    /// data directory, or a short name in the fallback runtime directory when that is too long.
    pub fn home_socket(&self, uid: u32) -> PathBuf {
        let data = self.lock.parent().unwrap_or(Path::new("/"));
        let socket = data.join("run").join("genq.sock");
        if socket.as_os_str().len() <= MAX_SOCKET_PATH {
            socket
        } else {
            short_socket_path(&fallback_runtime_dir(uid), data)
        }
    }
}

const SHARED_TMP: &str = "/tmp";

/// `/tmp/genq-$UID`, the runtime directory when `XDG_RUNTIME_DIR` is unset.
pub fn fallback_runtime_dir(uid: u32) -> PathBuf {
    shared_runtime_dir(Path::new(SHARED_TMP), uid)
}

fn shared_runtime_dir(tmp: &Path, uid: u32) -> PathBuf {
    tmp.join(format!("genq-{uid}"))
}

/// A socket path for a home whose own path is too long: a stable name derived from it in the
/// fallback runtime directory.
fn short_socket_path(shared: &Path, home: &Path) -> PathBuf {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in home.as_os_str().as_encoded_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    shared.join(format!("genq-{h:016x}.sock"))
}

/// What is wrong with a socket directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DirProblem {
    Symlink,
    NotADirectory,
    Owner { owner: u32, me: u32 },
    OpenToOthers { mode: u32 },
    Unreadable(String),
}

/// A socket directory genq will not use, and what the user can do about it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.explain())]
pub struct UnsafeDir {
    pub path: PathBuf,
    pub problem: DirProblem,
}

impl UnsafeDir {
    fn explain(&self) -> String {
        let path = self.path.display();
        let what = match &self.problem {
            DirProblem::Symlink => "is a symbolic link".to_string(),
            DirProblem::NotADirectory => "is not a directory".to_string(),
            DirProblem::Owner { owner, me } => {
                format!("is owned by uid {owner}, not by you (uid {me})")
            }
            DirProblem::OpenToOthers { mode } => {
                format!("has mode {mode:04o}, so other users could replace the socket in it")
            }
            DirProblem::Unreadable(e) => format!("cannot be inspected ({e})"),
        };
        let todo = match &self.problem {
            DirProblem::OpenToOthers { .. } => {
                format!("make it private with `chmod 700 {path}` (or remove it) and try again")
            }
            DirProblem::Unreadable(_) => "check the path and its permissions".to_string(),
            _ => format!(
                "another user may be trying to intercept genq; remove {path} (it may take \
                 root) or set XDG_RUNTIME_DIR to a private directory of yours"
            ),
        };
        format!("the socket directory {path} {what}; genq will not use it: {todo}")
    }
}

/// The facts about a directory that decide whether a socket may live in it, taken without
/// following a symbolic link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirFacts {
    pub is_symlink: bool,
    pub is_dir: bool,
    pub uid: u32,
    pub mode: u32,
}

/// The rule for a socket directory: a real directory, owned by `euid`, closed to everyone
/// else. Only the owner (and root) can then put a socket in it.
pub fn check_socket_dir(facts: &DirFacts, euid: u32) -> Result<(), DirProblem> {
    if facts.is_symlink {
        return Err(DirProblem::Symlink);
    }
    if !facts.is_dir {
        return Err(DirProblem::NotADirectory);
    }
    if facts.uid != euid {
        return Err(DirProblem::Owner {
            owner: facts.uid,
            me: euid,
        });
    }
    if facts.mode & 0o077 != 0 {
        return Err(DirProblem::OpenToOthers {
            mode: facts.mode & 0o7777,
        });
    }
    Ok(())
}

/// Checks a socket directory on disk: `Ok(false)` when it does not exist, `Ok(true)` when
/// it is safe to use.
#[cfg(unix)]
pub fn inspect_socket_dir(dir: &Path, euid: u32) -> Result<bool, UnsafeDir> {
    use std::os::unix::fs::MetadataExt;
    let fail = |problem| UnsafeDir {
        path: dir.to_path_buf(),
        problem,
    };
    let meta = match std::fs::symlink_metadata(dir) {
        Ok(m) => m,
        // A file where a parent directory should be: the directory does not exist either.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            return Ok(false);
        }
        Err(e) => return Err(fail(DirProblem::Unreadable(e.to_string()))),
    };
    let facts = DirFacts {
        is_symlink: meta.file_type().is_symlink(),
        is_dir: meta.is_dir(),
        uid: meta.uid(),
        mode: meta.mode(),
    };
    check_socket_dir(&facts, euid).map_err(fail)?;
    Ok(true)
}

#[cfg(not(unix))]
pub fn inspect_socket_dir(dir: &Path, _euid: u32) -> Result<bool, UnsafeDir> {
    Ok(dir.is_dir())
}

/// The file beside `path` named `STEM{suffix}.EXT`, the extension `ext` (none: no extension).
/// Numbered copies are named through here.
pub fn with_suffix(path: &Path, suffix: &str, ext: Option<&std::ffi::OsStr>) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match ext {
        Some(ext) => format!("{stem}{suffix}.{}", ext.to_string_lossy()),
        None => format!("{stem}{suffix}"),
    };
    path.with_file_name(name)
}

/// A task name as a folder or file name (`images/<task>/`, `top_loras_<task>.json` under the
/// cache): anything but letters, digits, `-` and `_` is replaced by `_`.
pub fn safe_name(task: &str) -> String {
    let s: String = task
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "_".into() } else { s }
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

    fn facts(is_symlink: bool, is_dir: bool, uid: u32, mode: u32) -> DirFacts {
        DirFacts {
            is_symlink,
            is_dir,
            uid,
            mode,
        }
    }

    #[test]
    fn only_a_private_directory_of_ones_own_may_hold_the_socket() {
        assert_eq!(
            check_socket_dir(&facts(false, true, 1000, 0o40700), 1000),
            Ok(())
        );
        assert_eq!(
            check_socket_dir(&facts(true, false, 1000, 0o120777), 1000),
            Err(DirProblem::Symlink)
        );
        assert_eq!(
            check_socket_dir(&facts(false, false, 1000, 0o100600), 1000),
            Err(DirProblem::NotADirectory)
        );
        assert_eq!(
            check_socket_dir(&facts(false, true, 65534, 0o40700), 1000),
            Err(DirProblem::Owner {
                owner: 65534,
                me: 1000
            })
        );
        assert_eq!(
            check_socket_dir(&facts(false, true, 1000, 0o40777), 1000),
            Err(DirProblem::OpenToOthers { mode: 0o777 })
        );
        assert_eq!(
            check_socket_dir(&facts(false, true, 1000, 0o40750), 1000),
            Err(DirProblem::OpenToOthers { mode: 0o750 })
        );
    }

    #[test]
    fn the_message_says_what_is_wrong_and_what_to_do() {
        let e = UnsafeDir {
            path: PathBuf::from("/tmp/genq-1000"),
            problem: DirProblem::Owner { owner: 0, me: 1000 },
        };
        let text = e.to_string();
        assert!(text.contains("/tmp/genq-1000 is owned by uid 0"), "{text}");
        assert!(text.contains("XDG_RUNTIME_DIR"), "{text}");
        let e = UnsafeDir {
            path: PathBuf::from("/x"),
            problem: DirProblem::OpenToOthers { mode: 0o777 },
        };
        assert!(e.to_string().contains("chmod 700 /x"), "{e}");
    }

    #[cfg(unix)]
    #[test]
    fn a_shared_directory_held_by_someone_else_moves_the_socket_home() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        let me = 4321; // not the owner of anything here: every existing dir is someone else's
        let resolve = || {
            let h = home.path().to_str().unwrap().to_string();
            Paths::resolve_in(env(&[("HOME", &h)]), me, tmp.path())
        };
        // Nothing there yet: the shared place is used (the daemon creates it).
        let mut p = resolve();
        p.settle_socket(me);
        assert_eq!(p.socket, tmp.path().join("genq-4321/genq.sock"));
        assert_eq!(p.socket_moved, None);

        // Someone else created it first: every process moves to the same private place.
        std::fs::create_dir(tmp.path().join("genq-4321")).unwrap();
        let mut p = resolve();
        p.settle_socket(me);
        assert_eq!(
            p.socket,
            home.path().join(".local/state/genq/run/genq.sock")
        );
        assert!(matches!(
            p.socket_moved.as_ref().map(|m| &m.problem),
            Some(DirProblem::Owner { .. })
        ));
        let mut again = resolve();
        again.settle_socket(me);
        assert_eq!(again.socket, p.socket);

        // A link planted there moves it too.
        std::fs::remove_dir(tmp.path().join("genq-4321")).unwrap();
        std::os::unix::fs::symlink(home.path(), tmp.path().join("genq-4321")).unwrap();
        let mut p = resolve();
        p.settle_socket(me);
        assert!(matches!(
            p.socket_moved.map(|m| m.problem),
            Some(DirProblem::Symlink)
        ));
    }

    #[test]
    fn with_a_runtime_dir_or_a_home_the_socket_never_moves() {
        let p = Paths::resolve(env(&[("HOME", "/h"), ("XDG_RUNTIME_DIR", "/run/u")]), 1);
        assert_eq!(p.socket_alternative, None);
        let p = Paths::resolve(env(&[("GENQ_HOME", "/g")]), 1);
        assert_eq!(p.socket_alternative, None);
    }

    #[test]
    fn safe_names_keep_letters_digits_dashes_and_underscores() {
        assert_eq!(
            safe_name("text-to-image_synthesis"),
            "text-to-image_synthesis"
        );
        assert_eq!(safe_name("owner/name v1.0"), "owner_name_v1_0");
        assert_eq!(safe_name(""), "_");
    }
}
