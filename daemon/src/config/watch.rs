//! Watches `config.toml` and `credentials.toml` for changes. It only says that the files
//! changed; whoever owns the config in force loads them again.

use genq_protocol::Paths;
use notify::{RecommendedWatcher, RecursiveMode, Watcher};
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet period after a change before reloading, so an editor's several writes count once.
const SETTLE: Duration = Duration::from_millis(150);

/// Changes to the config files, as they settle.
pub struct ConfigChanges {
    /// Kept alive as long as the changes are wanted.
    _watcher: RecommendedWatcher,
    rx: mpsc::UnboundedReceiver<()>,
}

impl ConfigChanges {
    /// Starts watching the directory of the config files (they may not exist yet, and
    /// editors often replace a file rather than write it). The credentials file lives beside
    /// the config. `None`, with a warning logged, when the directory cannot be watched.
    pub fn watch(paths: &Paths) -> Option<ConfigChanges> {
        let dir = paths.config.parent()?.to_path_buf();
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::warn!(
                "config reload disabled: cannot create {}: {e}",
                dir.display()
            );
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let names: Vec<_> = [&paths.config, &paths.credentials]
            .iter()
            .filter_map(|p| p.file_name().map(|n| n.to_owned()))
            .collect();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)));
                if ours && !event.kind.is_access() {
                    let _ = tx.send(());
                }
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("config reload disabled: {e}");
                return None;
            }
        };
        if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
            tracing::warn!(
                "config reload disabled: cannot watch {}: {e}",
                dir.display()
            );
            return None;
        }
        Some(ConfigChanges {
            _watcher: watcher,
            rx,
        })
    }

    /// Waits for the next change and lets a burst of writes settle before returning, so the
    /// file is read whole. `false` once the watcher has stopped.
    pub async fn settled(&mut self) -> bool {
        if self.rx.recv().await.is_none() {
            return false;
        }
        loop {
            tokio::select! {
                _ = tokio::time::sleep(SETTLE) => return true,
                got = self.rx.recv() => if got.is_none() { return false },
            }
        }
    }
}
