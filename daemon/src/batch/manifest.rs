//! The results manifest of a batch, in JSON Lines and CSV beside its outputs: per row its
//! job, state, error kind, output paths, sha256 and upload URLs.

use super::csv::field;
use crate::store::{Store, StoreError};
use genq_protocol::batch::BatchRow;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One row of the manifest as JSON.
pub fn row_json(row: &BatchRow) -> serde_json::Value {
    json!({
        "index": row.index,
        "row": row.row,
        "job": row.job_num,
        "job_id": row.job_id,
        "state": row.state,
        "success": row.state == Some(genq_protocol::JobState::Succeeded),
        "error_kind": row.error_kind(),
        "error": row.error.as_ref().map(|e| e.message.clone()),
        "output": row.output,
        "paths": paths(row),
        "sha256": row.outputs.iter().filter_map(|o| o.sha256.clone()).collect::<Vec<_>>(),
        "urls": urls(row),
    })
}

/// Where the row's files are: the copies at its output path, else the job's own files.
fn paths(row: &BatchRow) -> Vec<String> {
    if row.copied.is_empty() {
        row.outputs.iter().filter_map(|o| o.path.clone()).collect()
    } else {
        row.copied.clone()
    }
}

fn urls(row: &BatchRow) -> Vec<String> {
    row.outputs
        .iter()
        .flat_map(|o| o.uploads.iter().filter_map(|u| u.url.clone()))
        .collect()
}

fn csv_line(row: &BatchRow) -> String {
    let cells = [
        row.index.to_string(),
        row.row.to_string(),
        row.job_num.map(|n| n.to_string()).unwrap_or_default(),
        row.job_id.as_ref().map(|j| j.0.clone()).unwrap_or_default(),
        row.state
            .map(|s| s.to_string())
            .unwrap_or_else(|| "pending".into()),
        row.error_kind().map(|k| k.to_string()).unwrap_or_default(),
        paths(row).join(";"),
        row.outputs
            .iter()
            .filter_map(|o| o.sha256.clone())
            .collect::<Vec<_>>()
            .join(";"),
        urls(row).join(";"),
    ];
    let cells: Vec<String> = cells.iter().map(|c| field(c)).collect();
    cells.join(",") + "\n"
}

const CSV_HEADER: &str = "index,row,job,job_id,state,error_kind,paths,sha256,urls\n";

/// Writes `<base_dir>/<name>.manifest.jsonl` and `.csv` (through temporary files renamed
/// into place) and returns the JSON Lines file's path.
pub async fn write(store: &Store, id: u64) -> Result<Option<String>, ManifestError> {
    let (name, base_dir) = store.batch_place(id).await?;
    let Some(base_dir) = base_dir else {
        return Ok(None);
    };
    let rows = store.batch_rows(id).await?;
    let stem = Path::new(&name)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| format!("batch-{id}"));
    let dir = PathBuf::from(base_dir);
    let jsonl = dir.join(format!("{stem}.manifest.jsonl"));
    let csv = dir.join(format!("{stem}.manifest.csv"));
    let mut lines = String::new();
    let mut table = String::from(CSV_HEADER);
    for row in &rows {
        lines.push_str(&row_json(row).to_string());
        lines.push('\n');
        table.push_str(&csv_line(row));
    }
    write_file(&jsonl, lines).await?;
    write_file(&csv, table).await?;
    Ok(Some(jsonl.display().to_string()))
}

async fn write_file(path: &Path, text: String) -> Result<(), ManifestError> {
    let err = |source| ManifestError::Write {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir).await.map_err(err)?;
    }
    let mut part = path.as_os_str().to_owned();
    part.push(".part");
    tokio::fs::write(&part, text).await.map_err(err)?;
    tokio::fs::rename(&part, path).await.map_err(err)
}
