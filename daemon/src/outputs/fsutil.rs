//! Durable file writes: temporary name in the same directory, fsync, rename, fsync of the
//! directory, so a crash leaves either the old file or the new one, never half of one.

use std::io::Write;
use std::path::{Path, PathBuf};

/// A name in `dir` for a file being written; starts with a dot and ends in `.part` so
/// [`remove_partials`] can find leftovers of a crash.
pub fn temp_path(dir: &Path, stem: &str) -> PathBuf {
    let n: u64 = rand::random();
    dir.join(format!(".{stem}.{}.{n:016x}.part", std::process::id()))
}

/// Removes a temporary file when dropped, unless [`TempGuard::keep`] was called.
pub struct TempGuard(Option<PathBuf>);

impl TempGuard {
    pub fn new(path: PathBuf) -> Self {
        TempGuard(Some(path))
    }

    pub fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }

    /// The file was renamed away: nothing to remove.
    pub fn keep(&mut self) {
        self.0 = None;
    }
}

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let stem = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "file".into());
    let mut guard = TempGuard::new(temp_path(dir, &stem));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(guard.path())?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(guard.path(), path)?;
    guard.keep();
    sync_dir(dir)
}

/// Removes leftovers of interrupted writes (`.*.part`) in `dir`; returns how many.
pub fn remove_partials(dir: &Path) -> std::io::Result<usize> {
    let mut n = 0;
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".part") && entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            n += 1;
        }
    }
    Ok(n)
}
