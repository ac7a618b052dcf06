//! Reading genq's own settings files (`config.toml`, `credentials.toml`): a missing file is
//! no file, and a failure names the path the same way for each.

use std::path::{Path, PathBuf};

/// A settings file that could not be read, or whose contents are wrong.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl FileError {
    pub fn invalid(path: &Path, message: String) -> FileError {
        FileError::Invalid {
            path: path.to_path_buf(),
            message,
        }
    }
}

/// The file's text, or `None` when there is no such file.
pub fn read_optional(path: &Path) -> Result<Option<String>, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FileError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}
