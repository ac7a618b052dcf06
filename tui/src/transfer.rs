//! Copying a job's files from the daemon through `outputs.read`, the same whether the daemon
//! shares this disk or not: each file lands in a `.part` file that an interrupted copy
//! continues from its length, is checked against the daemon's sha256 and size, and only then
//! takes its name. A file already there with the right hash is left alone.

use crate::client::{Client, ClientError};
use futures::{StreamExt, TryStreamExt};
use genq_protocol::methods::OutputsRead;
use genq_protocol::outputs::{JobFile, READ_MAX_LENGTH, ReadParams, ReadResult};
use genq_protocol::{ErrorKind, Job};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes asked for per `outputs.read`.
pub const CHUNK: u32 = READ_MAX_LENGTH;
/// `outputs.read` calls in flight at once, so the next chunk is on its way while one is
/// written.
const IN_FLIGHT: usize = 4;

/// What happened to one file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Copied,
    /// A `.part` file of an earlier copy was continued.
    Resumed,
    /// Already there with the right hash.
    Present,
    /// There with another hash; copied again over it.
    Replaced,
    /// The job has no copy of it on the daemon's disk.
    Missing,
}

/// One file of a pulled job.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Pulled {
    pub job: String,
    pub name: String,
    pub path: PathBuf,
    pub action: Action,
    /// Bytes that crossed the connection.
    pub transferred: u64,
    pub size: u64,
    pub sha256: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{path}: {message}")]
    Local { path: String, message: String },
    #[error("{name} of job {job}: {message}")]
    Remote {
        job: String,
        name: String,
        message: String,
    },
}

fn local(path: &Path, e: impl std::fmt::Display) -> TransferError {
    TransferError::Local {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

/// A file of a job to copy.
struct Wanted {
    name: String,
    index: Option<u32>,
    file: Option<JobFile>,
    /// The record's size and hash, when it has them.
    expected: Option<(u64, String)>,
}

/// Copies `job`'s outputs that are on the daemon's disk, and its `params.json`, into `dir`.
pub async fn pull_job(
    client: &Client,
    job: &Job,
    dir: &Path,
) -> Result<Vec<Pulled>, TransferError> {
    std::fs::create_dir_all(dir).map_err(|e| local(dir, e))?;
    let mut done = Vec::new();
    for wanted in wanted_files(job)? {
        let missing = |name: String| Pulled {
            job: job.short_id(),
            path: dir.join(&name),
            name,
            action: Action::Missing,
            transferred: 0,
            size: 0,
            sha256: None,
        };
        let pulled = match wanted {
            Ok(w) => match pull_file(client, job, &w, dir).await {
                Err(TransferError::Client(ClientError::Rpc(e)))
                    if e.kind() == ErrorKind::NotFound =>
                {
                    missing(w.name)
                }
                other => other?,
            },
            Err(name) => missing(name),
        };
        done.push(pulled);
    }
    Ok(done)
}

/// The job's files: outputs by their names on the daemon (`Err(name)` for one not on its
/// disk), then `params.json`.
fn wanted_files(job: &Job) -> Result<Vec<Result<Wanted, String>>, TransferError> {
    let mut files = Vec::new();
    for o in &job.outputs {
        let Some(path) = &o.path else {
            files.push(Err(format!("output {}", o.index)));
            continue;
        };
        let name = Path::new(path)
            .file_name()
            .and_then(|n| n.to_str())
            .filter(|n| !n.starts_with('.') && !n.ends_with(".part"))
            .ok_or_else(|| TransferError::Remote {
                job: job.short_id(),
                name: format!("output {}", o.index),
                message: format!("{path:?} does not end in a file name genq can use"),
            })?;
        files.push(Ok(Wanted {
            name: name.to_string(),
            index: Some(o.index),
            file: None,
            expected: o.size.zip(o.sha256.clone()),
        }));
    }
    files.push(Ok(Wanted {
        name: JobFile::Params.name().to_string(),
        index: None,
        file: Some(JobFile::Params),
        expected: None,
    }));
    Ok(files)
}

async fn pull_file(
    client: &Client,
    job: &Job,
    w: &Wanted,
    dir: &Path,
) -> Result<Pulled, TransferError> {
    let dest = dir.join(&w.name);
    let had = dest.exists();
    let pulled = |action, transferred, size, sha256| Pulled {
        job: job.short_id(),
        name: w.name.clone(),
        path: dest.clone(),
        action,
        transferred,
        size,
        sha256,
    };
    if let Some((size, sha)) = &w.expected
        && had
        && hash_file(&dest).is_ok_and(|(h, n)| &h == sha && n == *size)
    {
        return Ok(pulled(Action::Present, 0, *size, Some(sha.clone())));
    }
    let part = dir.join(format!("{}.part", w.name));
    let partial = std::fs::metadata(&part).is_ok_and(|m| m.len() > 0);
    let mut copy = copy_to_part(client, job, w, &part, true).await?;
    if copy.is_none() && partial {
        copy = copy_to_part(client, job, w, &part, false).await?;
    }
    let copy = copy.ok_or_else(|| TransferError::Remote {
        job: job.short_id(),
        name: w.name.clone(),
        message: "the copy does not match the daemon's sha256 and size".into(),
    })?;
    if had && hash_file(&dest).is_ok_and(|h| h == (copy.sha256.clone(), copy.size)) {
        std::fs::remove_file(&part).map_err(|e| local(&part, e))?;
        return Ok(pulled(
            Action::Present,
            copy.transferred,
            copy.size,
            Some(copy.sha256),
        ));
    }
    std::fs::rename(&part, &dest).map_err(|e| local(&dest, e))?;
    let action = match (had, copy.resumed_from > 0) {
        (true, _) => Action::Replaced,
        (false, true) => Action::Resumed,
        (false, false) => Action::Copied,
    };
    Ok(pulled(
        action,
        copy.transferred,
        copy.size,
        Some(copy.sha256),
    ))
}

/// A verified `.part` file.
struct Copy {
    size: u64,
    sha256: String,
    transferred: u64,
    resumed_from: u64,
}

/// Fills `part` from the daemon (continuing it when `resume`) and checks it. `None` when the
/// result does not match: a resumed copy is then started again from nothing.
async fn copy_to_part(
    client: &Client,
    job: &Job,
    w: &Wanted,
    part: &Path,
    resume: bool,
) -> Result<Option<Copy>, TransferError> {
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(part)
        .map_err(|e| local(part, e))?;
    let mut start = if resume {
        file.metadata().map_err(|e| local(part, e))?.len()
    } else {
        0
    };
    if let Some((size, _)) = &w.expected
        && start > *size
    {
        start = 0;
    }
    file.set_len(start).map_err(|e| local(part, e))?;
    let mut hasher = Sha256::new();
    hash_into(&mut file, &mut hasher).map_err(|e| local(part, e))?;
    file.seek(SeekFrom::Start(start))
        .map_err(|e| local(part, e))?;

    let read = |offset: u64| {
        client.call::<OutputsRead>(ReadParams {
            id: job.id.0.clone(),
            index: w.index,
            file: w.file,
            offset,
            length: Some(CHUNK),
        })
    };
    let first = match read(start).await {
        Err(ClientError::Rpc(e))
            if start > 0 && e.data.as_ref().and_then(|d| d.field.as_deref()) == Some("offset") =>
        {
            return Ok(None);
        }
        other => other?,
    };
    let (size, sha256) = (first.size, first.sha256.clone());
    let mut transferred = write_chunk(&mut file, &mut hasher, &first, job, w, part)?;
    if !first.eof {
        let next = first.offset + transferred;
        let offsets = (next..size).step_by(CHUNK as usize);
        let mut replies = futures::stream::iter(offsets.map(read)).buffered(IN_FLIGHT);
        while let Some(chunk) = replies.try_next().await? {
            transferred += write_chunk(&mut file, &mut hasher, &chunk, job, w, part)?;
            if chunk.eof {
                break;
            }
        }
    }
    file.flush().map_err(|e| local(part, e))?;
    let got = (hex(&hasher.finalize()), start + transferred);
    match sha256 {
        Some(sha) if got == (sha.clone(), size) => Ok(Some(Copy {
            size,
            sha256: sha,
            transferred,
            resumed_from: start,
        })),
        _ => Ok(None),
    }
}

/// Appends one chunk, checking it starts where the file ends.
fn write_chunk(
    file: &mut std::fs::File,
    hasher: &mut Sha256,
    chunk: &ReadResult,
    job: &Job,
    w: &Wanted,
    part: &Path,
) -> Result<u64, TransferError> {
    let bytes =
        genq_protocol::outputs::base64_decode(&chunk.data).map_err(|e| TransferError::Remote {
            job: job.short_id(),
            name: w.name.clone(),
            message: format!("chunk at {}: {e}", chunk.offset),
        })?;
    hasher.update(&bytes);
    file.write_all(&bytes).map_err(|e| local(part, e))?;
    Ok(bytes.len() as u64)
}

fn hash_into(file: &mut std::fs::File, hasher: &mut Sha256) -> std::io::Result<u64> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
}

/// A file's sha256 (lowercase hex) and size.
pub fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let size = hash_into(&mut file, &mut hasher)?;
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
