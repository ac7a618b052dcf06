//! Config hot reload: watches `config.toml` and `credentials.toml` and puts a valid new
//! version in force for the next request; an invalid one is logged and reported by
//! `daemon.status` while the old config stays in force.

use crate::config::Config;
use crate::engine::Engine;
use notify::{RecursiveMode, Watcher};
use std::time::Duration;
use tokio::sync::mpsc;

/// Quiet period after a change before reloading, so an editor's several writes count once.
const SETTLE: Duration = Duration::from_millis(150);

/// Loads the config files again and applies them, or records why they cannot be. Loading
/// runs key commands, so it happens on a blocking thread.
pub async fn reload(engine: &Engine) {
    let paths = engine.paths().clone();
    let registry = engine.registry().clone();
    let loaded = tokio::task::spawn_blocking(move || Config::load(&paths, &registry)).await;
    let path = engine.paths().config.display().to_string();
    match loaded {
        Ok(Ok(config)) => {
            engine.apply_config(config);
            tracing::info!("config reloaded from {path}");
        }
        Ok(Err(e)) => {
            tracing::error!("config not reloaded, the previous one stays in force: {e}");
            engine.set_config_error(Some(e.to_string()));
        }
        Err(e) => tracing::error!("config not reloaded: the loading task failed: {e}"),
    }
}

/// Starts watching the directory of the config files (they may not exist yet, and editors
/// often replace a file rather than write it). The credentials file lives beside the config.
pub fn spawn(engine: &Engine) {
    let paths = engine.paths();
    let Some(dir) = paths.config.parent().map(|d| d.to_path_buf()) else {
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
    let names: Vec<_> = [&paths.config, &paths.credentials]
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_owned()))
        .collect();
    let mut watcher =
        match notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                let ours = event
                    .paths
                    .iter()
                    .any(|p| p.file_name().is_some_and(|n| names.iter().any(|m| m == n)));
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
            reload(&engine2).await;
        }
    });
}
