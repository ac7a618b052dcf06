//! Keeps batches up with their jobs: when a row's job succeeds its files are copied to the
//! row's output path, and when every row has ended the manifest is written. Driven by job
//! events; a subscriber that falls behind, and every start, go over the unfinished batches.

use super::manifest;
use crate::engine::Engine;
use crate::store::RowOutput;
use genq_protocol::paths::with_suffix;
use genq_protocol::{Event, JobState};
use std::path::{Path, PathBuf};
use tokio::sync::broadcast::error::RecvError;

/// Follows job events until shutdown.
pub fn spawn(engine: &Engine) {
    let mut events = engine.events();
    let this = engine.clone();
    engine.spawn_owned(move |shutdown| async move {
        loop {
            let event = tokio::select! {
                e = events.recv() => e,
                _ = shutdown.cancelled() => return,
            };
            match event {
                Ok(event) => on_event(&this, &event).await,
                Err(RecvError::Lagged(_)) => settle_all(&this).await,
                Err(RecvError::Closed) => return,
            }
        }
    });
}

async fn on_event(engine: &Engine, event: &Event) {
    let Some(state) = event.new_state().filter(|s| s.is_final()) else {
        return;
    };
    let row = match engine.store().row_of_job(event.job_id.clone()).await {
        Ok(Some(row)) => row,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!("batch row of job {}: {e}", event.job_id);
            return;
        }
    };
    let batch = row.batch_id;
    if state == JobState::Succeeded && row.output.is_some() && !row.copied {
        copy_row(engine, row).await;
    }
    finish_if_done(engine, batch).await;
}

async fn settle_all(engine: &Engine) {
    if let Ok(ids) = engine.store().unfinished_batches().await {
        for id in ids {
            settle(engine, id).await;
        }
    }
}

/// Copies every succeeded row not copied yet and writes the manifest once all rows ended.
pub async fn settle(engine: &Engine, id: u64) {
    match engine.store().rows_to_copy(id).await {
        Ok(rows) => {
            for row in rows {
                copy_row(engine, row).await;
            }
        }
        Err(e) => tracing::warn!(batch = id, "cannot read the rows to copy: {e}"),
    }
    finish_if_done(engine, id).await;
}

async fn finish_if_done(engine: &Engine, id: u64) {
    match engine.store().batch_done(id).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::warn!(batch = id, "cannot tell whether the batch ended: {e}");
            return;
        }
    }
    let written = manifest::write(engine.store(), id).await;
    let path = match written {
        Ok(path) => path,
        Err(e) => {
            tracing::warn!(batch = id, "manifest not written: {e}");
            None
        }
    };
    if let Err(e) = engine.store().finish_batch(id, path).await {
        tracing::warn!(batch = id, "batch not marked finished: {e}");
    }
}

/// Where output `i` of a row goes: the row's path for the first, `NAME_2.EXT`, … for the
/// others (with the extension of the file itself).
fn target_for(output: &Path, i: usize, source: &Path) -> PathBuf {
    if i == 0 {
        return output.to_path_buf();
    }
    let ext = source.extension().or_else(|| output.extension());
    with_suffix(output, &format!("_{}", i + 1), ext)
}

/// Copies a row's files to its output path (through a `.part` file, renamed into place) and
/// records where they went.
async fn copy_row(engine: &Engine, row: RowOutput) {
    let Some(output) = row.output.as_deref().map(PathBuf::from) else {
        return;
    };
    let mut copied = Vec::new();
    let files = row.job.outputs.iter().filter_map(|o| o.path.as_deref());
    for (i, source) in files.enumerate() {
        let source = Path::new(source);
        let target = target_for(&output, i, source);
        match copy_file(source, &target).await {
            Ok(()) => copied.push(target.display().to_string()),
            Err(e) => {
                tracing::warn!(
                    batch = row.batch_id,
                    row = row.index,
                    "cannot copy {} to {}: {e}",
                    source.display(),
                    target.display()
                );
                return;
            }
        }
    }
    if let Err(e) = engine
        .store()
        .set_row_copied(row.batch_id, row.index, copied)
        .await
    {
        tracing::warn!(
            batch = row.batch_id,
            row = row.index,
            "copy not recorded: {e}"
        );
    }
}

async fn copy_file(source: &Path, target: &Path) -> std::io::Result<()> {
    if let Some(dir) = target.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let mut part = target.as_os_str().to_owned();
    part.push(".part");
    tokio::fs::copy(source, &part).await?;
    tokio::fs::rename(&part, target).await
}
