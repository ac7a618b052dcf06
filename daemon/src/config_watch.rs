//! Config hot reload: watches `config.toml` and puts a valid new version in force for the
//! next request; an invalid one is logged and reported by `daemon.status` while the old
//! config stays in force.

use crate::config::Config;
use crate::engine::Engine;
use notify::{RecursiveMode, Watcher};
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet period after a change before reloading, so an editor's several writes count once.
const SETTLE: Duration = Duration::from_millis(150);

/// Loads the config file again and applies it, or records why it cannot be.
pub fn reload(engine: &Engine) {
    let path = engine.paths().config.clone();
    match Config::load(&path, engine.registry()) {
        Ok(config) => {
            engine.apply_config(config);
            tracing::info!("config reloaded from {}", path.display());
        }
        Err(e) => {
            tracing::error!("config not reloaded, the previous one stays in force: {e}");
            engine.set_config_error(Some(e.to_string()));
        }
    }
}

/// Starts watching the config file's directory (the file itself may not exist yet, and
/// editors often replace it rather than write it).
pub fn spawn(engine: &Engine) {
    let path = engine.paths().config.clone();
    let Some(dir) = path.parent().map(|d| d.to_path_buf()) else {
        return;
    };
    if let Err(e) = std::fs::create_dir_all(&dir) {
        tracing::warn!(
            "config reload disabled: cannot create {}: {e}",
            dir.display()
        );
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel();
    let file_name = path.file_name().map(|n| n.to_owned());
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_owned()) == file_name);
                if ours && !event.kind.is_access() {
                    let _ = tx.send(());
                }
            }
        }) {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!("config reload disabled: {e}");
                return;
            }
        };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(
            "config reload disabled: cannot watch {}: {e}",
            dir.display()
        );
        return;
    }
    let engine2 = engine.clone();
    engine.spawn_owned(move |shutdown| async move {
        let _watcher = watcher; // lives as long as this task
        loop {
            tokio::select! {
                got = rx.recv() => if got.is_none() { return },
                _ = shutdown.cancelled() => return,
            }
            // Let a burst of writes settle before reading the file.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(SETTLE) => break,
                    got = rx.recv() => if got.is_none() { return },
                }
            }
            reload(&engine2);
        }
    });
}
