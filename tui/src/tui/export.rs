//! `e`: a job's parameters written to a JSON file in the current directory. An export never
//! replaces a file: when the name is taken, the next free `NAME-2.json`, `NAME-3.json`, … is
//! used, each claimed with an exclusive create, so two exports (or two TUIs) cannot collide.

use crate::client::{Client, ClientError};
use crate::tui::action::{Action, CallError, call_error};
use genq_protocol::JobId;
use genq_protocol::methods::JobsExport;
use genq_protocol::paths::with_suffix;
use std::io;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Numbered names tried after `path` itself before giving up.
const MAX_SUFFIX: u32 = 999;

/// Exports job `id` to `path` or the next free name beside it; the action says where it went
/// or why it failed. `None` when the connection dropped (the reconnect is reported instead).
pub async fn to_file(client: &Client, id: &JobId, path: &Path) -> Option<Action> {
    let fail = |what: String, message: String| Action::CallFailed {
        what,
        error: CallError::local(message),
    };
    let spec = match client.call::<JobsExport>(id.into()).await {
        Err(ClientError::Disconnected) => return None,
        Err(e) => {
            return Some(Action::CallFailed {
                what: "export".into(),
                error: call_error(&e),
            });
        }
        Ok(spec) => spec,
    };
    let json = match serde_json::to_string_pretty(&spec) {
        Ok(json) => json + "\n",
        Err(e) => return Some(fail("export".into(), e.to_string())),
    };
    Some(match write_new(path, json.as_bytes()).await {
        Ok(written) => Action::Info(format!("parameters written to {}", written.display())),
        Err(e) => fail(format!("writing {}", path.display()), e.to_string()),
    })
}

/// Writes `bytes` to a file that did not exist before: `path`, else `stem-2.ext`,
/// `stem-3.ext`, …. Returns the path written.
pub async fn write_new(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    for n in 1..=MAX_SUFFIX {
        let candidate = numbered(path, n);
        let mut file = match tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
            .await
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        };
        let written = async {
            file.write_all(bytes).await?;
            file.flush().await
        }
        .await;
        return match written {
            Ok(()) => Ok(candidate),
            Err(e) => {
                // Half a file is worse than none; the name is free again.
                let _ = tokio::fs::remove_file(&candidate).await;
                Err(e)
            }
        };
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{} and its numbered variants up to -{MAX_SUFFIX} all exist",
            path.display()
        ),
    ))
}

/// `path` for `n == 1`, else `stem-n.ext` beside it.
fn numbered(path: &Path, n: u32) -> PathBuf {
    if n == 1 {
        return path.to_path_buf();
    }
    with_suffix(path, &format!("-{n}"), path.extension())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_taken_name_gets_the_next_number_and_nothing_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq-job-7.json");
        let first = write_new(&path, b"one").await.unwrap();
        let second = write_new(&path, b"two").await.unwrap();
        let third = write_new(&path, b"three").await.unwrap();
        assert_eq!(first, path);
        assert_eq!(second, dir.path().join("genq-job-7-2.json"));
        assert_eq!(third, dir.path().join("genq-job-7-3.json"));
        assert_eq!(std::fs::read(&first).unwrap(), b"one");
        assert_eq!(std::fs::read(&second).unwrap(), b"two");
        assert_eq!(std::fs::read(&third).unwrap(), b"three");
    }

    #[tokio::test]
    async fn concurrent_exports_each_get_their_own_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("genq-job-7.json");
        let writes = (0..8).map(|i| {
            let path = path.clone();
            tokio::spawn(async move { write_new(&path, format!("{i}").as_bytes()).await })
        });
        let mut written = Vec::new();
        for w in writes {
            written.push(w.await.unwrap().unwrap());
        }
        written.sort();
        written.dedup();
        assert_eq!(written.len(), 8, "{written:?}");
    }

    #[tokio::test]
    async fn a_directory_that_cannot_be_written_is_an_error_not_a_loop() {
        let err = write_new(Path::new("/nonexistent-dir/genq-job-1.json"), b"x")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }
}
