//! `outputs.read` and `outputs.preview`: a job's files for clients that do not share the
//! daemon's disk. Only files the job's record names (and its `params.json`) are served, and
//! only from inside the outputs directory.

use super::super::state::ServerState;
use crate::outputs::{
    self, ChunkError, PARAMS_FILE, RenditionKey, hash_file, read_chunk, rendition, resolve_inside,
};
use genq_protocol::outputs::{
    JobFile, PREVIEW_MAX_SIDE, PreviewParams, PreviewResult, READ_MAX_LENGTH, ReadParams,
    ReadResult, base64_encode,
};
use genq_protocol::{ErrorKind, Job, Output, RpcError};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// Renditions decoded at once; more asks wait their turn.
static RENDERING: Semaphore = Semaphore::const_new(2);

/// A file of a job as the record describes it.
struct Recorded {
    /// The parameter that chose it, for errors.
    field: &'static str,
    path: PathBuf,
    sha256: Option<String>,
    size: Option<u64>,
}

pub async fn read(state: &Arc<ServerState>, p: ReadParams) -> Result<ReadResult, RpcError> {
    let length = p.length.unwrap_or(READ_MAX_LENGTH);
    if length == 0 || length > READ_MAX_LENGTH {
        return Err(RpcError::invalid_params(
            "length",
            format!("length: {length} bytes is out of range"),
            Some(format!("1 to {READ_MAX_LENGTH}")),
        ));
    }
    let job = state.engine.store().get_job(p.id).await?;
    let root = state.engine.paths().outputs.clone();
    let file = match (p.index, p.file) {
        (Some(index), None) => output_file(&job, index)?,
        (None, Some(JobFile::Params)) => Recorded {
            field: "file",
            path: outputs::job_dir(&root, &job.id, job.created_at).join(PARAMS_FILE),
            sha256: None,
            size: None,
        },
        _ => {
            return Err(RpcError::invalid_params(
                "index",
                "index: name one file of the job, by index or by file",
                Some("index (an output's number) or file (params.json)".into()),
            ));
        }
    };
    if let Some(size) = file.size
        && p.offset > size
    {
        return Err(past_end(p.offset, size));
    }
    let (offset, field) = (p.offset, file.field);
    let (path, recorded) = (file.path.clone(), file.sha256.is_some());
    let (chunk, computed) = blocking(move || {
        let chunk = read_chunk(&root, &path, offset, length)?;
        let computed = if recorded {
            None
        } else {
            Some(hash_file(&path).map_err(|source| ChunkError::Io {
                path: path.display().to_string(),
                source,
            })?)
        };
        Ok((chunk, computed))
    })
    .await?
    .map_err(|e| chunk_error(field, e))?;
    let name = file
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (sha256, size) = match computed {
        Some((sha, size)) => (Some(sha), size),
        None => (file.sha256, file.size.unwrap_or(chunk.file_len)),
    };
    Ok(ReadResult {
        name,
        eof: offset + chunk.bytes.len() as u64 >= chunk.file_len,
        data: base64_encode(&chunk.bytes),
        offset,
        size,
        sha256,
    })
}

pub async fn preview(
    state: &Arc<ServerState>,
    p: PreviewParams,
) -> Result<PreviewResult, RpcError> {
    for (field, side) in [("max_width", p.max_width), ("max_height", p.max_height)] {
        if side == 0 || side > PREVIEW_MAX_SIDE {
            return Err(RpcError::invalid_params(
                field,
                format!("{field}: {side} pixels is out of range"),
                Some(format!("1 to {PREVIEW_MAX_SIDE}")),
            ));
        }
    }
    let job = state.engine.store().get_job(p.id).await?;
    let index = preview_source(&job, p.index)?;
    let file = output_file(&job, index)?;
    let root = state.engine.paths().outputs.clone();
    let cache = state.engine.paths().cache.join("previews");
    let (max_width, max_height) = (p.max_width, p.max_height);
    let _turn = RENDERING
        .acquire()
        .await
        .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))?;
    let made = blocking(move || {
        let real = resolve_inside(&root, &file.path).map_err(|e| chunk_error("index", e))?;
        let key = RenditionKey {
            sha256: file.sha256.as_deref().unwrap_or(""),
            size: file.size.unwrap_or(0),
            max_width,
            max_height,
        };
        rendition(&real, &cache, &key).map_err(|e| {
            RpcError::invalid_params("index", format!("index: output {index}: {e}"), None)
        })
    })
    .await??;
    Ok(PreviewResult {
        index,
        mime: made.mime.into(),
        width: made.width,
        height: made.height,
        data: base64_encode(&made.bytes),
    })
}

/// Output `index` of `job`, when it is on disk.
fn output_file(job: &Job, index: u32) -> Result<Recorded, RpcError> {
    let output = job
        .outputs
        .iter()
        .find(|o| o.index == index)
        .ok_or_else(|| {
            let allowed = match job.outputs.len() {
                0 => "none: the job has no outputs".to_string(),
                n => format!("0 to {}", n - 1),
            };
            RpcError::invalid_params(
                "index",
                format!("index: job {} has no output {index}", job.short_id()),
                Some(allowed),
            )
        })?;
    let path = output.path.as_ref().ok_or_else(|| {
        RpcError::new(
            ErrorKind::NotFound,
            format!(
                "index: output {index} of job {} is not downloaded",
                job.short_id()
            ),
        )
    })?;
    Ok(Recorded {
        field: "index",
        path: PathBuf::from(path),
        sha256: output.sha256.clone(),
        size: output.size,
    })
}

/// The output a preview is drawn from: the one asked for when it is an image, else (a 3D
/// model, or nothing asked) the job's first image.
fn preview_source(job: &Job, index: Option<u32>) -> Result<u32, RpcError> {
    if let Some(i) = index {
        let asked = job.outputs.iter().find(|o| o.index == i);
        if asked.is_none_or(is_image) {
            return Ok(i);
        }
    }
    job.outputs
        .iter()
        .find(|o| is_image(o))
        .map(|o| o.index)
        .ok_or_else(|| {
            RpcError::invalid_params(
                "index",
                format!("index: job {} has no image to preview", job.short_id()),
                Some("an output that is an image, or a 3D job with a preview image".into()),
            )
        })
}

fn is_image(o: &Output) -> bool {
    match o.mime.as_deref() {
        Some(m) => m.starts_with("image/"),
        None => o.path.as_deref().is_some_and(|p| {
            let p = p.to_ascii_lowercase();
            [".png", ".jpg", ".jpeg", ".webp"]
                .iter()
                .any(|e| p.ends_with(e))
        }),
    }
}

fn past_end(offset: u64, size: u64) -> RpcError {
    RpcError::invalid_params(
        "offset",
        format!("offset: {offset} is past the end of the file ({size} bytes)"),
        Some(format!("0 to {size}")),
    )
}

fn chunk_error(field: &str, e: ChunkError) -> RpcError {
    match e {
        ChunkError::PastEnd { offset, size } => past_end(offset, size),
        ChunkError::Outside { .. } => {
            RpcError::invalid_params(field, format!("{field}: {e}"), None)
        }
        ChunkError::Missing(_) => RpcError::new(ErrorKind::NotFound, format!("{field}: {e}")),
        ChunkError::Io { .. } => {
            tracing::warn!("outputs.read: {e}");
            RpcError::new(ErrorKind::Internal, format!("{field}: {e}"))
        }
    }
}

/// Runs `f` on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RpcError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))
}
