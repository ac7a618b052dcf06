//! `type = "dir"` targets: a copy under a local directory with the same key layout as an
//! object store, written atomically; an identical file already there counts as done.

use super::error::StorageError;
use super::key::KeyContext;
use crate::outputs::fsutil::{TempGuard, sync_dir, temp_path};
use crate::outputs::verify::hash_file;
use std::path::{Component, Path, PathBuf};

#[derive(Debug)]
pub struct DirTarget {
    name: String,
    root: PathBuf,
}

impl DirTarget {
    pub fn new(name: &str, root: &Path) -> Result<DirTarget, StorageError> {
        if !root.is_absolute() {
            return Err(StorageError::new(
                name,
                format!("path {:?} must be absolute", root.display().to_string()),
            ));
        }
        Ok(DirTarget {
            name: name.to_string(),
            root: root.to_path_buf(),
        })
    }

    pub fn url_for(&self, key: &str) -> String {
        format!("file://{}", self.root.join(key).display())
    }

    /// Copies `local` to `<root>/<key>`. `Ok(true)` when an identical file was there.
    pub async fn put(
        &self,
        local: &Path,
        key: &str,
        ctx: &KeyContext,
    ) -> Result<bool, StorageError> {
        let rel = Path::new(key);
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            return Err(StorageError::new(
                &self.name,
                format!("key {key:?} is not a plain relative path"),
            ));
        }
        let dest = self.root.join(rel);
        let local = local.to_path_buf();
        let name = self.name.clone();
        let sha = ctx.sha256.clone();
        let key = key.to_string();
        tokio::task::spawn_blocking(move || copy_into(&name, &local, &dest, &sha, &key))
            .await
            .map_err(|e| StorageError::new(&self.name, format!("the copy task failed: {e}")))?
    }
}

fn copy_into(
    name: &str,
    local: &Path,
    dest: &Path,
    sha: &str,
    key: &str,
) -> Result<bool, StorageError> {
    let err = |m: String| StorageError::new(name, m);
    if dest.exists() {
        let (existing, _) =
            hash_file(dest).map_err(|e| err(format!("cannot read {}: {e}", dest.display())))?;
        if existing.eq_ignore_ascii_case(sha) {
            return Ok(true);
        }
        return Err(err(format!(
            "a different file already exists at {key}; it was left as is"
        )));
    }
    let parent = dest.parent().unwrap_or(Path::new("/"));
    std::fs::create_dir_all(parent)
        .map_err(|e| err(format!("cannot create {}: {e}", parent.display())))?;
    let stem = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut guard = TempGuard::new(temp_path(parent, &stem));
    std::fs::copy(local, guard.path()).map_err(|e| {
        err(format!(
            "cannot copy {} into {}: {e}",
            local.display(),
            parent.display()
        ))
    })?;
    std::fs::File::open(guard.path())
        .and_then(|f| f.sync_all())
        .map_err(|e| err(format!("cannot sync the copy: {e}")))?;
    std::fs::rename(guard.path(), dest)
        .map_err(|e| err(format!("cannot rename into {}: {e}", dest.display())))?;
    guard.keep();
    sync_dir(parent).map_err(|e| err(format!("cannot sync {}: {e}", parent.display())))?;
    Ok(false)
}
