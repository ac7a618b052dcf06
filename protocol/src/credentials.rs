//! `credentials.toml`: provider keys stored by `genq auth set` (or `fake-providers --home`)
//! and read by the daemon, which reloads them when the file changes. The file is private to
//! the user (`0600`) and replaced atomically, so a reader never sees half of it.
//!
//! ```toml
//! [modelscope]
//! api_key = "ms-…"
//! ```

use crate::files::{FileError, read_optional};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The providers genq knows; `genq auth set` accepts only these names.
pub const PROVIDERS: [&str; 3] = ["modelscope", "dashscope", "tripo"];

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(
        "{path} is readable by group or others, so its keys are not used; \
         run `chmod 600 {path}`"
    )]
    Exposed { path: PathBuf },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    api_key: String,
}

/// The stored keys by provider name. Its `Debug` shows the names only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    keys: BTreeMap<String, Entry>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl Credentials {
    /// Reads the file; a missing file holds no keys. A file others can read is refused.
    pub fn load(path: &Path) -> Result<Credentials, CredentialsError> {
        let Some(text) = read_optional(path)? else {
            return Ok(Credentials::default());
        };
        if readable_by_others(path) {
            return Err(CredentialsError::Exposed {
                path: path.to_path_buf(),
            });
        }
        Credentials::parse(&text).map_err(|message| FileError::invalid(path, message).into())
    }

    /// Parses the file's text. Errors give line and column, never the text around them
    /// (it may be a key).
    pub fn parse(text: &str) -> Result<Credentials, String> {
        let keys: BTreeMap<String, Entry> = toml::from_str(text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let (line, col) = line_col(text, s.start);
                    format!(" (line {line}, column {col})")
                })
                .unwrap_or_default();
            format!("{}{at}", e.message().trim())
        })?;
        Ok(Credentials { keys })
    }

    /// The key stored for `provider`.
    pub fn get(&self, provider: &str) -> Option<&str> {
        self.keys
            .get(provider)
            .map(|e| e.api_key.trim())
            .filter(|k| !k.is_empty())
    }

    /// Stores a key, after checking it is one line of visible characters.
    pub fn set(&mut self, provider: &str, key: &str) -> Result<(), String> {
        let key = key.trim();
        if key.is_empty() {
            return Err("the key is empty".into());
        }
        if key.chars().any(char::is_control) {
            return Err("the key contains control characters (one line, no tabs)".into());
        }
        self.keys.insert(
            provider.to_string(),
            Entry {
                api_key: key.to_string(),
            },
        );
        Ok(())
    }

    /// Forgets a provider's key; whether there was one.
    pub fn remove(&mut self, provider: &str) -> bool {
        self.keys.remove(provider).is_some()
    }

    /// Providers with a stored key.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Writes the file atomically: a private temporary file beside it, then a rename. The
    /// directory is created `0700` when missing.
    pub fn save(&self, path: &Path) -> Result<(), CredentialsError> {
        let write_err = |source| CredentialsError::Write {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string(&self.keys)
            .map_err(|e| write_err(std::io::Error::other(e.to_string())))?;
        let text = format!(
            "# Provider keys, written by `genq auth set`. Keep this file private (0600).\n{text}"
        );
        if let Some(dir) = path.parent() {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(write_err)?;
        }
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp-{}", std::process::id()));
        let tmp = PathBuf::from(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let written =
            write_private(&tmp, text.as_bytes()).and_then(|()| std::fs::rename(&tmp, path));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map_err(write_err)
    }
}

/// Creates `path` readable by this user only, writes it and syncs it to disk.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// Whether a file's mode lets group or others in (or it cannot be read at all): keys must
/// not live in such a file.
#[cfg(unix)]
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.permissions().mode() & 0o077 != 0)
        .unwrap_or(true)
}

#[cfg(not(unix))]
pub fn readable_by_others(_path: &Path) -> bool {
    false
}

/// The 1-based line and column of a byte offset in `text`.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..text.floor_char_boundary(offset.min(text.len()))];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_a_private_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("credentials.toml");
        let mut c = Credentials::default();
        c.set("modelscope", "  ms-secret \n").unwrap();
        c.save(&path).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let back = Credentials::load(&path).unwrap();
        assert_eq!(back.get("modelscope"), Some("ms-secret"));
        assert_eq!(back.get("tripo"), None);
        assert!(!format!("{back:?}").contains("ms-secret"));
        let mut back = back;
        assert!(back.remove("modelscope"));
        assert!(!back.remove("modelscope"));
    }

    #[test]
    fn a_file_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.toml");
        std::fs::write(&path, "[tripo]\napi_key = \"k\"\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Credentials::load(&path).unwrap_err();
            assert!(e.to_string().contains("chmod 600"), "{e}");
        }
    }

    #[test]
    fn errors_say_line_and_column_but_not_the_text() {
        let e = Credentials::parse("[tripo]\napi_key = \"tsk_secret\"\nother = 1\n").unwrap_err();
        assert!(e.contains("line 3, column 1"), "{e}");
        assert!(!e.contains("tsk_secret"), "{e}");
        let mut c = Credentials::default();
        assert!(c.set("tripo", "a\tb").is_err());
        assert!(c.set("tripo", " ").is_err());
    }

    #[test]
    fn line_and_column_count_from_one() {
        assert_eq!(line_col("ab\ncd", 0), (1, 1));
        assert_eq!(line_col("ab\ncd", 4), (2, 2));
        assert_eq!(line_col("ab", 99), (1, 3));
    }
}
