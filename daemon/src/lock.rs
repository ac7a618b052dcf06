//! One daemon per home: an exclusive `flock` on a lock file decides, and the file holds the
//! owner's [`DaemonRecord`] (pid, socket, version, start time) so that a second daemon can say
//! which one is running and any client finds where it listens. The kernel drops the lock
//! when the process dies, even after `kill -9`, so a stale lock cannot exist; a stale record
//! can, and clients trust it only while the lock is held. A killed daemon lets go only once
//! its last thread has ended ([`genq_protocol::process`]): a daemon started meanwhile waits
//! for that instead of calling it a second daemon.

use genq_protocol::daemon_record::DaemonRecord;
use genq_protocol::process::{ProcessState, process_state};
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("another genq daemon (pid {pid}) is already running for {path}")]
    Held { pid: String, path: PathBuf },
    #[error(
        "the genq daemon (pid {pid}) for {path} is exiting but still holds its lock after {} s; \
         start again once it has let go", EXITING_PATIENCE.as_secs()
    )]
    StillExiting { pid: u32, path: PathBuf },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Held for the daemon's lifetime.
pub struct DaemonLock {
    lock: Mutex<Flock<File>>,
    path: PathBuf,
}

/// How often a lock that a client holds is tried again: a client looking whether a daemon
/// runs holds a shared lock for an instant. A lock another daemon holds is not waited for,
/// unless that daemon is exiting.
const ATTEMPTS: u32 = 10;
const PAUSE: Duration = Duration::from_millis(20);
/// How long a daemon that was killed may take to let go of the lock: its last threads may be
/// finishing a write to a slow disk. Shorter than a client waits for a daemon it started.
const EXITING_PATIENCE: Duration = Duration::from_secs(10);

/// Whether the lock is held only shared (a client looking), not by a daemon: a shared lock
/// can then be taken beside it.
fn held_by_a_client(path: &Path) -> bool {
    File::open(path).is_ok_and(|f| f.try_lock_shared().is_ok())
}

/// The record in the lock file, read through `file`.
fn holder(file: &mut File) -> Option<DaemonRecord> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    DaemonRecord::parse(&text)
}

impl DaemonLock {
    /// Takes the lock and writes `record` into it at once, so the file never names an
    /// earlier daemon while this one holds it.
    ///
    /// A daemon that holds the lock wins at once, except one that is exiting (killed, its
    /// last threads still closing its files): the lock is waited for then, and this is said
    /// on stderr, for a start right after a crash is not a second daemon.
    pub fn acquire(path: &Path, record: &DaemonRecord) -> Result<DaemonLock, LockError> {
        let io = |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let started = Instant::now();
        let mut attempt = 0;
        let mut waiting_for = None;
        loop {
            attempt += 1;
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => {
                    let lock = DaemonLock {
                        lock: Mutex::new(lock),
                        path: path.to_path_buf(),
                    };
                    lock.record(record)?;
                    return Ok(lock);
                }
                Err((back, _)) => file = back,
            }
            let exiting =
                holder(&mut file).filter(|h| process_state(h.pid) == Some(ProcessState::Exiting));
            let wait = match exiting {
                Some(h) if started.elapsed() < EXITING_PATIENCE => {
                    if waiting_for != Some(h.pid) {
                        eprintln!(
                            "genq: waiting for the genq daemon (pid {}), which is exiting, to \
                             let go of {}",
                            h.pid,
                            path.display()
                        );
                        waiting_for = Some(h.pid);
                    }
                    true
                }
                Some(h) => {
                    return Err(LockError::StillExiting {
                        pid: h.pid,
                        path: path.parent().unwrap_or(path).to_path_buf(),
                    });
                }
                None => attempt < ATTEMPTS && held_by_a_client(path),
            };
            if !wait {
                break;
            }
            std::thread::sleep(PAUSE);
        }
        Err(LockError::Held {
            pid: holder(&mut file).map_or("unknown".into(), |r| r.pid.to_string()),
            path: path.parent().unwrap_or(path).to_path_buf(),
        })
    }

    /// Writes where this daemon listens into the lock file: in one write at its start, then
    /// cut to length, so a client reading meanwhile sees the pid first, never an empty file
    /// once a record was there.
    pub fn record(&self, record: &DaemonRecord) -> Result<(), LockError> {
        let io = |source| LockError::Io {
            path: self.path.clone(),
            source,
        };
        let text = record.render();
        let mut lock = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        lock.seek(SeekFrom::Start(0)).map_err(io)?;
        lock.write_all(text.as_bytes()).map_err(io)?;
        lock.set_len(text.len() as u64).map_err(io)?;
        lock.sync_all().map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_first_owner() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq.lock");
        let record = DaemonRecord::of_this_process(Path::new("/x.sock"));
        let _first = DaemonLock::acquire(&path, &record).unwrap();
        match DaemonLock::acquire(&path, &record) {
            Err(LockError::Held { pid, .. }) => assert_eq!(pid, std::process::id().to_string()),
            Err(e) => panic!("unexpected error {e}"),
            Ok(_) => panic!("second lock succeeded"),
        }
    }

    #[test]
    fn a_daemon_that_lost_the_lock_to_a_daemon_gives_up_at_once() {
        // Waiting out a running daemon would let a loser start later, after that daemon
        // stopped, behind `genq daemon stop`'s back.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq.lock");
        let record = DaemonRecord::of_this_process(Path::new("/x.sock"));
        let first = DaemonLock::acquire(&path, &record).unwrap();
        let started = std::time::Instant::now();
        let second = std::thread::spawn({
            let path = path.clone();
            move || DaemonLock::acquire(&path, &record).is_ok()
        });
        std::thread::sleep(PAUSE * 2);
        drop(first);
        assert!(
            !second.join().unwrap(),
            "the second daemon took the lock later"
        );
        assert!(started.elapsed() < PAUSE * ATTEMPTS);
    }

    #[test]
    fn a_client_looking_does_not_keep_a_daemon_from_starting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq.lock");
        let look = File::create(&path).unwrap();
        look.try_lock_shared().unwrap();
        let record = DaemonRecord::of_this_process(Path::new("/x.sock"));
        let daemon = std::thread::spawn({
            let path = path.clone();
            move || DaemonLock::acquire(&path, &record).is_ok()
        });
        std::thread::sleep(PAUSE);
        drop(look);
        assert!(
            daemon.join().unwrap(),
            "a client's look kept the daemon out"
        );
    }
}
