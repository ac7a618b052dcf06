//! Reading part of a file in the outputs directory for a client, never anything outside it.
//! Blocking; call off the runtime.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Why a chunk could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("{path} is not a file inside the outputs directory {root}; refused")]
    Outside { path: String, root: String },
    #[error("{0} is not on disk")]
    Missing(String),
    #[error("offset {offset} is past the end of the file ({size} bytes)")]
    PastEnd { offset: u64, size: u64 },
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Part of a file and the file's length now.
#[derive(Debug)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub file_len: u64,
}

/// Where `path` really is (symlinks followed), when that is a regular file strictly inside
/// `root`.
pub fn resolve_inside(root: &Path, path: &Path) -> Result<PathBuf, ChunkError> {
    let shown = path.display().to_string();
    let real = match path.canonicalize() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ChunkError::Missing(shown));
        }
        Err(source) => {
            return Err(ChunkError::Io {
                path: shown,
                source,
            });
        }
        Ok(real) => real,
    };
    let outside = || ChunkError::Outside {
        path: shown.clone(),
        root: root.display().to_string(),
    };
    let real_root = root.canonicalize().map_err(|_| outside())?;
    let is_file = std::fs::metadata(&real).is_ok_and(|m| m.is_file());
    if !real.starts_with(&real_root) || !is_file {
        return Err(outside());
    }
    Ok(real)
}

/// Up to `length` bytes of `path` from `offset`, when `path` passes [`resolve_inside`].
pub fn read_chunk(root: &Path, path: &Path, offset: u64, length: u32) -> Result<Chunk, ChunkError> {
    let real = resolve_inside(root, path)?;
    let io = |source| ChunkError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(&real).map_err(io)?;
    let file_len = file.metadata().map_err(io)?.len();
    if offset > file_len {
        return Err(ChunkError::PastEnd {
            offset,
            size: file_len,
        });
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let want = u64::from(length).min(file_len - offset);
    let mut bytes = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
    file.take(want).read_to_end(&mut bytes).map_err(io)?;
    Ok(Chunk { bytes, file_len })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_the_root_only() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("outputs");
        std::fs::create_dir_all(root.join("job")).unwrap();
        std::fs::write(root.join("job/0.png"), b"0123456789").unwrap();
        std::fs::write(tmp.path().join("secret"), b"x").unwrap();

        let c = read_chunk(&root, &root.join("job/0.png"), 3, 4).unwrap();
        assert_eq!((c.bytes.as_slice(), c.file_len), (&b"3456"[..], 10));
        let c = read_chunk(&root, &root.join("job/0.png"), 8, 100).unwrap();
        assert_eq!(c.bytes, b"89");
        assert!(
            read_chunk(&root, &root.join("job/0.png"), 10, 4)
                .unwrap()
                .bytes
                .is_empty()
        );
        assert!(matches!(
            read_chunk(&root, &root.join("job/0.png"), 11, 4),
            Err(ChunkError::PastEnd { .. })
        ));
        assert!(matches!(
            read_chunk(&root, &root.join("job/../../secret"), 0, 4),
            Err(ChunkError::Outside { .. })
        ));
        assert!(matches!(
            read_chunk(&root, &root.join("job"), 0, 4),
            Err(ChunkError::Outside { .. })
        ));
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("job/1.png")).unwrap();
            assert!(matches!(
                read_chunk(&root, &root.join("job/1.png"), 0, 4),
                Err(ChunkError::Outside { .. })
            ));
        }
        assert!(matches!(
            read_chunk(&root, &root.join("job/9.png"), 0, 4),
            Err(ChunkError::Missing(_))
        ));
    }
}
