//! Binding the socket: a private directory never reached through a link, a `0600` socket,
//! and a stale socket removed only after connecting to it failed.

use genq_protocol::Paths;
use genq_protocol::paths::UnsafeDir;
use interprocess::local_socket::tokio::{Listener, Stream};
use interprocess::local_socket::traits::tokio::Stream as _;
use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("socket directory {path}: {message}")]
    Dir { path: String, message: String },
    #[error(transparent)]
    Unsafe(#[from] UnsafeDir),
    #[error("another process is already answering on {0}")]
    InUse(String),
    #[error("cannot listen on {path}: {source}")]
    Bind {
        path: String,
        source: std::io::Error,
    },
}

/// Creates the socket directory (`0700`, ours) and binds the socket (`0600`).
pub async fn bind(paths: &Paths) -> Result<Listener, ServerError> {
    let dir = paths.socket_dir();
    prepare_private_dir(dir)?;
    let path = &paths.socket;
    let shown = path.display().to_string();
    let fs_name = || {
        path.as_path()
            .to_fs_name::<GenericFilePath>()
            .map_err(|source| ServerError::Bind {
                path: shown.clone(),
                source,
            })
    };
    let existing = std::fs::symlink_metadata(path).ok();
    if existing.as_ref().is_some_and(|m| !is_own_socket(m)) {
        // Planted while the directory was open to others, or not a socket at all: the
        // directory is ours now, so it goes.
        tracing::warn!("removing {shown}: not a socket of this user");
        let _ = std::fs::remove_file(path);
    } else if existing.is_some() {
        // Only a socket nobody answers on is stale.
        if Stream::connect(fs_name()?).await.is_ok() {
            return Err(ServerError::InUse(shown));
        }
        tracing::info!("removing stale socket {shown}");
        let _ = std::fs::remove_file(path);
    }
    let opts = ListenerOptions::new().name(fs_name()?).reclaim_name(true);
    #[cfg(unix)]
    let opts = {
        use interprocess::os::unix::local_socket::ListenerOptionsExt;
        opts.mode(0o600)
    };
    opts.create_tokio().map_err(|source| ServerError::Bind {
        path: shown,
        source,
    })
}

/// Whether a file (never followed if a link) is a socket owned by this user.
#[cfg(unix)]
fn is_own_socket(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    meta.file_type().is_socket() && meta.uid() == nix::unistd::geteuid().as_raw()
}

#[cfg(not(unix))]
fn is_own_socket(_meta: &std::fs::Metadata) -> bool {
    true
}

/// Creates the socket directory `0700`, or makes an existing one of ours private again.
/// The directory is opened without following a link and changed through that handle, so
/// a link or a swap planted by someone else is refused, never followed.
#[cfg(unix)]
fn prepare_private_dir(dir: &Path) -> Result<(), ServerError> {
    use genq_protocol::paths::{DirFacts, DirProblem, check_socket_dir, inspect_socket_dir};
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::{Mode, SFlag, fchmod, fstat};
    use std::os::unix::fs::DirBuilderExt;
    let me = nix::unistd::geteuid().as_raw();
    let err = |message: String| ServerError::Dir {
        path: dir.display().to_string(),
        message,
    };
    let unsafe_dir = |problem| {
        ServerError::Unsafe(UnsafeDir {
            path: dir.to_path_buf(),
            problem,
        })
    };
    if let Some(parent) = dir.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(|e| err(format!("cannot create its parent: {e}")))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(err(format!("cannot create it: {e}"))),
    }
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = match open(dir, flags, Mode::empty()) {
        Ok(fd) => fd,
        // Say what is there: a link, a file, …
        Err(e) => {
            inspect_socket_dir(dir, me)?;
            return Err(err(format!("cannot open it: {e}")));
        }
    };
    let st = fstat(&fd).map_err(|e| err(e.to_string()))?;
    let facts = DirFacts {
        is_symlink: false,
        is_dir: SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) == SFlag::S_IFDIR,
        uid: st.st_uid,
        mode: st.st_mode,
    };
    match check_socket_dir(&facts, me) {
        Ok(()) => Ok(()),
        Err(DirProblem::OpenToOthers { mode }) => {
            tracing::warn!("{} had mode {mode:04o}; making it 0700", dir.display());
            fchmod(&fd, Mode::from_bits_truncate(0o700))
                .map_err(|e| err(format!("cannot make it private (0700): {e}")))
        }
        Err(problem) => Err(unsafe_dir(problem)),
    }
}

#[cfg(not(unix))]
fn prepare_private_dir(dir: &Path) -> Result<(), ServerError> {
    std::fs::create_dir_all(dir).map_err(|e| ServerError::Dir {
        path: dir.display().to_string(),
        message: e.to_string(),
    })
}
