//! The outputs directory on disk as a whole: how much it takes, and deleting one job's
//! directory without ever touching anything outside it. Blocking; call off the runtime.

use super::detect::FileType;
use genq_protocol::{JobId, Timestamp};
use std::io;
use std::path::{Path, PathBuf};

/// What a directory tree holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub bytes: u64,
    pub files: u64,
    /// Directories three levels down (`YYYY/MM/<job-id>`).
    pub job_dirs: u64,
}

/// Walks `root` without following symlinks. A missing root is empty.
pub fn usage(root: &Path) -> io::Result<Usage> {
    let mut total = Usage::default();
    match std::fs::symlink_metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(total),
        Err(e) => return Err(e),
        Ok(m) if !m.is_dir() => return Ok(total),
        Ok(_) => {}
    }
    walk(root, 0, &mut total)?;
    Ok(total)
}

fn walk(dir: &Path, depth: u32, total: &mut Usage) -> io::Result<()> {
    if depth == 3 {
        total.job_dirs += 1;
    }
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.path(), depth + 1, total)?;
        } else if kind.is_file() {
            total.files += 1;
            total.bytes += entry.metadata()?.len();
        }
    }
    Ok(())
}

/// Deletes `dir` (one job's directory) and returns what it held. Refuses a `dir` that is not
/// a real directory strictly inside `root`; a `dir` that does not exist holds nothing. The
/// month and year directories above it go too when this leaves them empty.
pub fn delete_job_dir(root: &Path, dir: &Path, dry_run: bool) -> Result<Usage, String> {
    let shown = dir.display();
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Usage::default()),
        Err(e) => return Err(format!("{shown}: {e}")),
        Ok(m) if !m.is_dir() => {
            return Err(format!("{shown} is not a directory; left alone"));
        }
        Ok(_) => {}
    }
    let real_root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    let real_dir = dir.canonicalize().map_err(|e| format!("{shown}: {e}"))?;
    if real_dir == real_root || !real_dir.starts_with(&real_root) {
        return Err(format!(
            "{shown} is not inside the outputs directory {}; left alone",
            root.display()
        ));
    }
    let held = usage(&real_dir).map_err(|e| format!("{shown}: {e}"))?;
    if dry_run {
        return Ok(held);
    }
    std::fs::remove_dir_all(&real_dir).map_err(|e| format!("{shown}: {e}"))?;
    // Fails, harmlessly, while other jobs' directories remain.
    for parent in real_dir.ancestors().skip(1).take(2) {
        if parent == real_root || std::fs::remove_dir(parent).is_err() {
            break;
        }
    }
    Ok(held)
}

/// The directory of one job's outputs: `outputs/YYYY/MM/<job-id>/`.
pub fn job_dir(root: &Path, id: &JobId, created_at: Timestamp) -> PathBuf {
    let dt = created_at.to_datetime();
    root.join(format!("{:04}", dt.year()))
        .join(format!("{:02}", u8::from(dt.month())))
        .join(id.as_str())
}

/// The output with number `index` already in `dir` (`<index>.<ext>` for any extension genq
/// writes), for resuming after a restart when the record has no path yet.
pub fn find_existing(dir: &Path, index: u32) -> Option<PathBuf> {
    let prefix = format!("{index}.");
    let entries = std::fs::read_dir(dir).ok()?;
    entries.flatten().map(|e| e.path()).find(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix(&prefix))
            .is_some_and(|ext| FileType::from_ext(ext).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deletes_a_job_dir_and_its_empty_parents_only_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("outputs");
        let job = root.join("2026/12/job-a");
        std::fs::create_dir_all(&job).unwrap();
        std::fs::write(job.join("0.png"), b"12345").unwrap();
        std::fs::write(job.join("params.json"), b"{}").unwrap();
        let other = root.join("2026/11/job-b");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(other.join("0.png"), b"1").unwrap();
        let outside = tmp.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();

        let u = usage(&root).unwrap();
        assert_eq!((u.bytes, u.files, u.job_dirs), (8, 3, 2));
        assert_eq!(delete_job_dir(&root, &job, true).unwrap().bytes, 7);
        assert!(job.exists());

        assert!(delete_job_dir(&root, &outside, false).is_err());
        assert!(delete_job_dir(&root, &root, false).is_err());
        assert!(
            delete_job_dir(
                &root,
                &root.join("2026/12/job-a/../../../../elsewhere"),
                false
            )
            .is_err()
        );
        assert!(outside.exists());

        let held = delete_job_dir(&root, &job, false).unwrap();
        assert_eq!((held.bytes, held.files), (7, 2));
        assert!(!root.join("2026/12").exists());
        assert!(other.exists());
        assert_eq!(
            delete_job_dir(&root, &job, false).unwrap(),
            Usage::default()
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_job_dir_is_left_alone() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("outputs");
        let target = tmp.path().join("precious");
        std::fs::create_dir_all(&target).unwrap();
        std::fs::write(target.join("keep.png"), b"x").unwrap();
        std::fs::create_dir_all(root.join("2026/12")).unwrap();
        std::os::unix::fs::symlink(&target, root.join("2026/12/job-a")).unwrap();
        assert!(delete_job_dir(&root, &root.join("2026/12/job-a"), false).is_err());
        assert!(target.join("keep.png").exists());
    }
}
