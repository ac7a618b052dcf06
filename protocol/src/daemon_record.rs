//! What the running daemon writes into its lock file so that any client of the same home finds
//! it, whatever that client's `XDG_RUNTIME_DIR`: its pid on the first line (what older tools
//! read), then `key=value` lines for where it listens, its version and when it started.
//!
//! A record is only worth something while the lock is held: after a crash the file stays,
//! the lock does not. [`probe`] tells the two apart without taking the lock from a daemon
//! (a shared lock held for an instant, which the daemon retries past when it starts).

use crate::process::{ProcessState, process_state};
use crate::{Paths, Timestamp};
use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};

/// Where a daemon listens and who it is, as its lock file says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonRecord {
    pub pid: u32,
    /// `None` when the path could not be written on one line.
    pub socket: Option<PathBuf>,
    pub version: String,
    pub started: Option<Timestamp>,
}

impl DaemonRecord {
    /// The record of this process, listening on `socket`.
    pub fn of_this_process(socket: &Path) -> DaemonRecord {
        DaemonRecord {
            pid: std::process::id(),
            socket: Some(socket.to_path_buf()),
            version: env!("CARGO_PKG_VERSION").to_string(),
            started: Some(Timestamp::now()),
        }
    }

    /// The lock file's text.
    pub fn render(&self) -> String {
        let mut text = format!("{}\nversion={}\n", self.pid, self.version);
        if let Some(started) = self.started {
            text.push_str(&format!("started={}\n", started.to_rfc3339()));
        }
        if let Some(socket) = self.socket.as_ref().and_then(|s| s.to_str())
            && !socket.contains('\n')
        {
            text.push_str(&format!("socket={socket}\n"));
        }
        text
    }

    /// Reads a lock file's text; `None` when it holds no pid (a daemon still writing it, or
    /// a lock file of nobody). Unknown lines are skipped; the first of a key counts.
    pub fn parse(text: &str) -> Option<DaemonRecord> {
        let mut lines = text.lines();
        let pid = lines.next()?.trim().parse().ok()?;
        let mut record = DaemonRecord {
            pid,
            socket: None,
            version: String::new(),
            started: None,
        };
        for line in lines {
            let Some((key, value)) = line.split_once('=') else {
                continue;
            };
            match key {
                "socket" if record.socket.is_none() && !value.is_empty() => {
                    record.socket = Some(PathBuf::from(value));
                }
                "version" if record.version.is_empty() => record.version = value.to_string(),
                "started" if record.started.is_none() => {
                    record.started = Timestamp::parse_rfc3339(value);
                }
                _ => {}
            }
        }
        Some(record)
    }
}

/// Whether a daemon holds a home's lock, and what it recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockState {
    /// No daemon: nobody holds the lock (any record in the file is stale).
    Free,
    /// A daemon holds the lock; `None` while it has not written its record yet.
    Held(Option<DaemonRecord>),
}

/// Looks at a lock file without creating it and without keeping any lock.
pub fn probe(lock: &Path) -> std::io::Result<LockState> {
    let file = match File::open(lock) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockState::Free),
        Err(e) => return Err(e),
    };
    match file.try_lock_shared() {
        // Closing the file lets go of the shared lock at once.
        Ok(()) => Ok(LockState::Free),
        Err(TryLockError::WouldBlock) => {
            let text = std::fs::read_to_string(lock).unwrap_or_default();
            Ok(LockState::Held(DaemonRecord::parse(&text)))
        }
        Err(TryLockError::Error(e)) => Err(e),
    }
}

/// Where the daemon of this home listens, and its pid when one holds the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    pub socket: PathBuf,
    /// `Some` while a daemon holds the lock: `"unknown"` until it wrote its record.
    pub pid: Option<String>,
}

/// Reads the lock: a daemon holding it says where it listens; with none, a new one would
/// listen at this client's own idea of the socket. A daemon that is exiting (killed, its last
/// threads still closing its files) still holds the lock but will never answer: it counts as
/// none, so that a client starts a new one, which waits for the lock.
pub fn locate(paths: &Paths) -> Located {
    match probe(&paths.lock) {
        Ok(LockState::Held(Some(record)))
            if process_state(record.pid) == Some(ProcessState::Exiting) =>
        {
            Located {
                socket: paths.socket.clone(),
                pid: None,
            }
        }
        Ok(LockState::Held(record)) => Located {
            socket: record
                .as_ref()
                .and_then(|r| r.socket.clone())
                .unwrap_or_else(|| paths.socket.clone()),
            pid: Some(record.map_or("unknown".into(), |r| r.pid.to_string())),
        },
        Ok(LockState::Free) | Err(_) => Located {
            socket: paths.socket.clone(),
            pid: None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_written() {
        let record = DaemonRecord {
            pid: 4242,
            socket: Some(PathBuf::from("/run/user/1000/genq/genq.sock")),
            version: "1.2.3".into(),
            started: Some(Timestamp::from_unix_millis(1_700_000_000_000)),
        };
        let text = record.render();
        assert!(text.starts_with("4242\n"), "{text}");
        assert_eq!(DaemonRecord::parse(&text), Some(record));
    }

    #[test]
    fn a_bare_pid_and_an_empty_file_read_as_such() {
        let old = DaemonRecord::parse("77\n").unwrap();
        assert_eq!((old.pid, old.socket), (77, None));
        assert_eq!(DaemonRecord::parse(""), None);
        assert_eq!(DaemonRecord::parse("garbage\nsocket=/x\n"), None);
    }

    #[test]
    fn a_record_is_trusted_only_while_its_lock_is_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq.lock");
        assert_eq!(probe(&path).unwrap(), LockState::Free);
        let record = DaemonRecord::of_this_process(Path::new("/tmp/x.sock"));
        std::fs::write(&path, record.render()).unwrap();
        assert_eq!(probe(&path).unwrap(), LockState::Free, "a stale record");
        let held = File::open(&path).unwrap();
        held.try_lock().unwrap();
        assert_eq!(probe(&path).unwrap(), LockState::Held(Some(record)));
        drop(held);
        assert_eq!(probe(&path).unwrap(), LockState::Free);
    }

    #[test]
    fn a_client_goes_where_the_lock_holder_listens_else_to_its_own_socket() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths::resolve(|k| (k == "GENQ_HOME").then(|| dir.path().into()), 1);
        let own = Located {
            socket: paths.socket.clone(),
            pid: None,
        };
        assert_eq!(locate(&paths), own);
        let record = DaemonRecord::of_this_process(Path::new("/elsewhere/genq.sock"));
        std::fs::write(&paths.lock, record.render()).unwrap();
        assert_eq!(locate(&paths), own, "a stale record");
        let held = File::open(&paths.lock).unwrap();
        held.try_lock().unwrap();
        let found = locate(&paths);
        assert_eq!(found.socket, PathBuf::from("/elsewhere/genq.sock"));
        assert_eq!(found.pid, Some(std::process::id().to_string()));
    }
}
