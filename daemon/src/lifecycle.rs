//! Starting and stopping the daemon: lock, logs, config, store, engine, server, signals.
//! Shutdown reads top to bottom in [`serve`]: stop accepting, let runners reach a waiting
//! point, then let the store thread finish its queued writes.

use crate::batch::Batches;
use crate::config::{Config, ConfigChanges};
use crate::engine::Engine;
use crate::lock::DaemonLock;
use crate::providers::Registry;
use crate::server::{self, ServerState, SocketKeeper};
use crate::store::Store;
use anyhow::Context;
use genq_protocol::Paths;
use genq_protocol::daemon_record::DaemonRecord;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// How to run the daemon.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub paths: Paths,
    /// Also log to stderr (for `genq daemon run` in a terminal).
    pub log_to_stderr: bool,
    /// Started in the background by a client: leave the client's session so that closing
    /// the terminal or logging out of SSH does not stop the daemon.
    pub detached: bool,
}

/// Largest log file before it is rotated at the next start; five old ones are kept.
const LOG_ROTATE_BYTES: u64 = 10 * 1024 * 1024;
const LOG_KEEP: u32 = 5;
/// Log lines waiting for the writer thread before new ones are dropped: far more than the
/// daemon logs in a burst. The library's default (128,000) reserves 4 MB up front.
const LOG_BUFFERED_LINES: usize = 8192;

/// Runs the daemon until it is told to stop (`daemon.shutdown`, SIGTERM, SIGINT). Returns
/// an error, naming the running daemon's pid, when another daemon owns this home.
pub fn run(opts: RunOptions) -> anyhow::Result<()> {
    // Before any file exists: prompts, outputs, logs and the database are the user's alone,
    // whatever the permissions of the directory they land in.
    #[cfg(unix)]
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o077));
    let paths = opts.paths.clone();
    if opts.detached {
        // Fails only when already a session leader, which is fine.
        let _ = nix::unistd::setsid();
    }
    for dir in [
        paths.db.parent(),
        paths.lock.parent(),
        Some(paths.log_dir.as_path()),
        Some(paths.outputs.as_path()),
        Some(paths.cache.as_path()),
    ]
    .into_iter()
    .flatten()
    {
        create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let record = DaemonRecord::of_this_process(&paths.socket);
    let lock = Arc::new(DaemonLock::acquire(&paths.lock, &record)?);
    let _log_guard = init_logging(&paths, opts.log_to_stderr)?;
    install_panic_hook();
    raise_open_file_limit();
    if let Some(moved) = &paths.socket_moved {
        tracing::warn!("{moved}; using {} instead", paths.socket.display());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();

    let registry = Registry::builtin();
    let config = Config::load(&paths, &registry).map_err(|e| {
        tracing::error!("refusing to start: {e}");
        anyhow::anyhow!("refusing to start: {e}")
    })?;
    let (store, store_thread) = Store::open(&paths.db).map_err(|e| {
        tracing::error!("refusing to start: {e}");
        anyhow::anyhow!("refusing to start: {e}")
    })?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("genqd")
        .build()
        .context("cannot start the async runtime")?;
    let socket = SocketHome {
        lock: lock.clone(),
        record,
    };
    let result = runtime.block_on(serve(paths, store, registry, config, socket, opts.detached));
    runtime.shutdown_timeout(Duration::from_secs(5));
    // Every store handle is gone with the runtime: the thread finishes queued writes and exits.
    store_thread.join();
    // Only now may another daemon take over this home.
    drop(lock);
    tracing::info!("daemon stopped");
    result
}

/// The lock and what it records, handed to the socket's keeper once the socket is bound.
struct SocketHome {
    lock: Arc<DaemonLock>,
    record: DaemonRecord,
}

async fn serve(
    paths: Paths,
    store: Store,
    registry: Registry,
    config: Config,
    home: SocketHome,
    detached: bool,
) -> anyhow::Result<()> {
    let added = crate::catalog::seed(&store).await?;
    tracing::info!(added, "built-in catalog applied");
    crate::catalog::seed_instances(&store, &config).await?;
    let engine = Engine::new(store, registry, config, paths.clone());
    let listener = server::bind(&paths).await?;
    let socket = SocketKeeper::new(listener, paths.clone(), home.lock, home.record);
    let resumed = engine.recover().await?;
    tracing::info!(
        pid = std::process::id(),
        socket = %paths.socket.display(),
        db = %paths.db.display(),
        resumed,
        "daemon started"
    );
    if detached {
        release_stdio();
    }
    let shutdown = CancellationToken::new();
    watch_config(&engine);
    spawn_signal_handlers(shutdown.clone(), engine.clone());
    let batches = Batches::new(engine.clone());
    let resumed_batches = batches.resume().await?;
    tracing::info!(resumed_batches, "batches resumed");
    crate::batch::watch_inbox(&batches);
    let http_address = tokio::sync::watch::Sender::new(None);
    let state = Arc::new(ServerState {
        batches,
        engine,
        started: Instant::now(),
        shutdown: shutdown.clone(),
        socket: socket.listening(),
        http: http_address.subscribe(),
    });
    crate::http::spawn(state.clone(), http_address);
    server::serve(socket, state.clone()).await;
    tracing::info!("shutting down");
    state.engine.shutdown(Duration::from_secs(10)).await;
    Ok(())
}

/// Points stdout and stderr at `/dev/null` once the daemon serves. The client that started
/// it reads them until then, to show why a start failed; afterwards that pipe closes.
fn release_stdio() {
    #[cfg(unix)]
    match std::fs::OpenOptions::new().write(true).open("/dev/null") {
        Ok(null) => {
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
        }
        Err(e) => tracing::warn!("cannot open /dev/null: {e}"),
    }
}

/// Creates a directory (and its parents) readable only by this user: prompts, outputs and
/// logs are nobody else's business. Existing directories are left as they are.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Lifts the soft open-file limit to the hard one: every client connection, download and
/// provider connection takes a descriptor, and a low soft limit (256 on macOS) runs out.
fn raise_open_file_limit() {
    #[cfg(unix)]
    {
        use nix::sys::resource::{Resource, getrlimit, setrlimit};
        let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
            return;
        };
        if soft >= hard {
            return;
        }
        match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
            Ok(()) => tracing::debug!(from = soft, to = hard, "raised the open-file limit"),
            Err(e) => tracing::debug!("cannot raise the open-file limit from {soft}: {e}"),
        }
    }
}

/// Panics go to the log as well as stderr: a daemon started by a client has its stderr on
/// `/dev/null`, and a panic nobody can read is a bug nobody can fix.
fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        log_panic(info);
        previous(info);
    }));
}

fn log_panic(info: &std::panic::PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_string());
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_else(|| "an unknown place".to_string());
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("unnamed");
    tracing::error!("panic in thread {thread} at {location}: {message}");
}

/// Config hot reload: a valid new version of the config files is put in force for the next
/// request; an invalid one is logged and reported by `daemon.status` while the old config
/// stays in force.
fn watch_config(engine: &Engine) {
    let Some(mut changes) = ConfigChanges::watch(engine.paths()) else {
        return;
    };
    let reloader = engine.clone();
    engine.spawn_owned(move |shutdown| async move {
        loop {
            tokio::select! {
                changed = changes.settled() => if !changed { return },
                _ = shutdown.cancelled() => return,
            }
            reloader.reload_config().await;
        }
    });
}

fn spawn_signal_handlers(shutdown: CancellationToken, engine: Engine) {
    #[cfg(unix)]
    tokio::spawn(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut term), Ok(mut int), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::warn!("cannot install signal handlers");
            return;
        };
        loop {
            tokio::select! {
                _ = term.recv() => { tracing::info!("SIGTERM received"); break; }
                _ = int.recv() => { tracing::info!("SIGINT received"); break; }
                // A hangup (terminal closed) must not stop the daemon: reload the config.
                _ = hup.recv() => { engine.reload_config().await; }
                _ = shutdown.cancelled() => return,
            }
        }
        shutdown.cancel();
    });
    #[cfg(not(unix))]
    tokio::spawn(async move {
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
    });
}

fn init_logging(
    paths: &Paths,
    to_stderr: bool,
) -> anyhow::Result<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::prelude::*;
    let file = paths.log_file();
    rotate(&file);
    let appender = tracing_appender::rolling::never(&paths.log_dir, "daemon.log");
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .buffered_lines_limit(LOG_BUFFERED_LINES)
        .finish(appender);
    let filter = tracing_subscriber::EnvFilter::try_from_env("GENQ_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let file_layer = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false);
    let stderr_layer =
        to_stderr.then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(file_layer)
        .with(stderr_layer)
        .try_init();
    Ok(guard)
}

/// `daemon.log` → `daemon.log.1` → … when it has grown past the limit.
fn rotate(file: &std::path::Path) {
    let Ok(meta) = std::fs::metadata(file) else {
        return;
    };
    if meta.len() < LOG_ROTATE_BYTES {
        return;
    }
    let name = |n: u32| {
        let mut p = file.as_os_str().to_owned();
        p.push(format!(".{n}"));
        std::path::PathBuf::from(p)
    };
    let _ = std::fs::remove_file(name(LOG_KEEP));
    for n in (1..LOG_KEEP).rev() {
        let _ = std::fs::rename(name(n), name(n + 1));
    }
    let _ = std::fs::rename(file, name(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_is_logged_with_its_message_and_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let file = std::fs::File::create(&path).unwrap();
        install_panic_hook();
        let crashed = std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                let subscriber = tracing_subscriber::fmt()
                    .with_writer(std::sync::Mutex::new(file))
                    .with_ansi(false)
                    .finish();
                let _guard = tracing::subscriber::set_default(subscriber);
                panic!("the disk went away");
            })
            .unwrap()
            .join();
        assert!(crashed.is_err());
        let log = std::fs::read_to_string(&path).unwrap();
        assert!(log.contains("ERROR"), "{log}");
        assert!(log.contains("the disk went away"), "{log}");
        assert!(log.contains("thread store"), "{log}");
        assert!(log.contains("lifecycle.rs:"), "{log}");
    }
}
