//! The inbox folder: a batch file dropped there is sent by the daemon, then moved to `done/`
//! (where its manifest is written when the batch ends) or to `failed/` with a report naming
//! the bad rows and fields. Files are seen through notify; a file is read only once it has
//! stopped changing for a moment, so one still being written (or copied) is never read half;
//! one renamed into place is read at once after that moment.

use super::plan::sha256_hex;
use super::service::{Batches, Origin};
use genq_protocol::batch::{BatchFormat, BatchSubmitParams, RowProblem};
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a file must stay unchanged before it is read.
const SETTLE: Duration = Duration::from_millis(400);

/// The inbox in force: `[batch] inbox`, else `<data>/inbox`.
pub fn inbox_dir(batches: &Batches) -> Option<PathBuf> {
    let config = batches.engine().config();
    if config.batch.watch_inbox == Some(false) {
        return None;
    }
    let data = batches.engine().paths().db.parent()?.to_path_buf();
    Some(
        config
            .batch
            .inbox
            .clone()
            .unwrap_or_else(|| data.join("inbox")),
    )
}

/// Whether a file in the inbox is a batch file to read: a known extension, not hidden,
/// not a temporary name.
fn is_candidate(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    !name.starts_with('.') && BatchFormat::from_name(name).is_some()
}

fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Starts watching the inbox (logged and skipped when it cannot be).
pub fn watch(batches: &Batches) {
    let Some(dir) = inbox_dir(batches) else {
        return;
    };
    for d in [dir.clone(), dir.join("done"), dir.join("failed")] {
        if let Err(e) = private_dir(&d) {
            tracing::warn!("inbox disabled: cannot create {}: {e}", d.display());
            return;
        }
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && !event.kind.is_access()
            && !event.kind.is_remove()
        {
            for p in event.paths {
                let _ = tx.send(p);
            }
        }
    });
    let mut watcher: RecommendedWatcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("inbox disabled: {e}");
            return;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!("inbox disabled: cannot watch {}: {e}", dir.display());
        return;
    }
    tracing::info!(inbox = %dir.display(), "watching the inbox");
    let this = batches.clone();
    batches.engine().spawn_owned(move |shutdown| async move {
        let inbox = Inbox {
            dir,
            batches: this,
            _watcher: watcher,
        };
        tokio::select! {
            _ = inbox.run(rx) => {}
            _ = shutdown.cancelled() => {}
        }
    });
}

struct Inbox {
    dir: PathBuf,
    batches: Batches,
    _watcher: RecommendedWatcher,
}

/// What a file looked like when last seen, and when to look again.
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    due: Instant,
}

fn look(path: &Path) -> Option<(u64, Option<SystemTime>)> {
    let meta = std::fs::metadata(path).ok().filter(|m| m.is_file())?;
    Some((meta.len(), meta.modified().ok()))
}

impl Inbox {
    async fn run(self, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
        let mut seen: HashMap<PathBuf, Seen> = HashMap::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                self.note(&mut seen, e.path());
            }
        }
        loop {
            let next = seen.values().map(|s| s.due).min();
            tokio::select! {
                got = rx.recv() => match got {
                    Some(p) => self.note(&mut seen, p),
                    None => return,
                },
                _ = sleep_until(next) => self.take_settled(&mut seen).await,
            }
        }
    }

    /// Records a change to a file directly in the inbox.
    fn note(&self, seen: &mut HashMap<PathBuf, Seen>, path: PathBuf) {
        if path.parent() != Some(self.dir.as_path()) || !is_candidate(&path) {
            return;
        }
        match look(&path) {
            Some((len, modified)) => {
                let due = Instant::now() + SETTLE;
                seen.insert(path, Seen { len, modified, due });
            }
            None => {
                seen.remove(&path);
            }
        }
    }

    /// Reads every file that stayed unchanged since it was last seen; files that changed
    /// wait again.
    async fn take_settled(&self, seen: &mut HashMap<PathBuf, Seen>) {
        let now = Instant::now();
        let due: Vec<PathBuf> = seen
            .iter()
            .filter(|(_, s)| s.due <= now)
            .map(|(p, _)| p.clone())
            .collect();
        for path in due {
            let Some(before) = seen.remove(&path) else {
                continue;
            };
            match look(&path) {
                Some((len, modified)) if (len, modified) == (before.len, before.modified) => {
                    self.take(&path).await;
                }
                Some((len, modified)) => {
                    let due = Instant::now() + SETTLE;
                    seen.insert(path, Seen { len, modified, due });
                }
                None => {}
            }
        }
    }

    /// Sends one file as a batch and moves it to `done/` or `failed/`.
    async fn take(&self, path: &Path) {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match tokio::fs::read_to_string(path).await {
            Ok(t) => t,
            Err(e) => {
                self.refuse(path, &name, &[problem0(format!("cannot read it: {e}"))])
                    .await;
                return;
            }
        };
        let done = self.dir.join("done");
        let dest = free_name(&done, &name);
        let dest_name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or(name.clone());
        let digest = sha256_hex(text.as_bytes());
        let params = BatchSubmitParams {
            text: Some(text),
            name: Some(dest_name),
            format: BatchFormat::from_name(&name),
            base_dir: Some(done.display().to_string()),
            ..Default::default()
        };
        let origin = Origin {
            source: "inbox",
            key: Some(format!("inbox:{name}:{digest}")),
        };
        match self.batches.submit(params, origin).await {
            Ok(plan) if plan.batch.is_some() => {
                if let Err(e) = tokio::fs::rename(path, &dest).await {
                    tracing::warn!(
                        "inbox: cannot move {} to {}: {e}",
                        path.display(),
                        dest.display()
                    );
                }
                if let Some(b) = plan.batch {
                    tracing::info!(batch = b.id, file = %name, "inbox file sent as a batch");
                }
            }
            Ok(plan) if plan.invalid.is_empty() => {
                self.refuse(path, &name, &[problem0("the file has no rows".into())])
                    .await;
            }
            Ok(plan) => self.refuse(path, &name, &plan.invalid).await,
            Err(e) => self.refuse(path, &name, &[problem0(e.to_string())]).await,
        }
    }

    /// Moves a refused file to `failed/` with `<name>.errors.txt` beside it.
    async fn refuse(&self, path: &Path, name: &str, problems: &[RowProblem]) {
        let failed = self.dir.join("failed");
        let dest = free_name(&failed, name);
        let mut report = String::new();
        for p in problems {
            let at = if p.row == 0 {
                "file".to_string()
            } else {
                format!("row {}", p.row)
            };
            report += &format!("{at}, {}: {}\n", p.field, p.message);
        }
        let mut report_path = dest.as_os_str().to_owned();
        report_path.push(".errors.txt");
        if let Err(e) = tokio::fs::write(&report_path, report).await {
            tracing::warn!(
                "inbox: cannot write {}: {e}",
                Path::new(&report_path).display()
            );
        }
        if let Err(e) = tokio::fs::rename(path, &dest).await {
            tracing::warn!(
                "inbox: cannot move {} to {}: {e}",
                path.display(),
                dest.display()
            );
        }
        tracing::warn!(file = %name, problems = problems.len(), "inbox file refused");
    }
}

fn problem0(message: String) -> RowProblem {
    RowProblem {
        row: 0,
        field: "file".into(),
        message,
    }
}

/// `dir/name`, or `dir/stem-2.ext`, `-3`, … when that is taken.
fn free_name(dir: &Path, name: &str) -> PathBuf {
    let first = dir.join(name);
    if !first.exists() {
        return first;
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((s, e)) => (s, format!(".{e}")),
        None => (name, String::new()),
    };
    (2..)
        .map(|n| dir.join(format!("{stem}-{n}{ext}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
