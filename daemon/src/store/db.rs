//! The store thread that owns the one connection, and the cheap handle async code uses to
//! send it work.

use super::appended::take_appended;
use super::error::StoreError;
use super::migrations;
use genq_protocol::Event;
use rusqlite::{Connection, OpenFlags, Transaction};
use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use tokio::sync::{broadcast, oneshot};

/// How many events the bus keeps for slow subscribers before they must resync.
const BUS_CAPACITY: usize = 4096;

type Task = Box<dyn FnOnce(&mut Connection, &broadcast::Sender<Event>) + Send>;

/// Handle to the store thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: std_mpsc::Sender<Task>,
    path: PathBuf,
    bus: broadcast::Sender<Event>,
}

impl Store {
    /// Opens (or creates) the database, refusing one that is damaged or comes from a newer
    /// genq, and brings an older schema up to date. Never deletes or overwrites user data.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let mut conn = open_connection(path)?;
        migrations::check_and_migrate(&mut conn, path)?;
        let (tx, rx) = std_mpsc::channel::<Task>();
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let thread_bus = bus.clone();
        let handle = std::thread::Builder::new()
            .name("genq-store".into())
            .spawn(move || {
                // Runs until every handle is dropped: queued writes are finished first.
                while let Ok(task) = rx.recv() {
                    task(&mut conn, &thread_bus);
                }
                let _ = conn.execute_batch("PRAGMA optimize;");
                drop(conn);
            })
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: format!("cannot start the database thread: {e}"),
            })?;
        Ok((
            Store {
                tx,
                path: path.to_path_buf(),
                bus,
            },
            StoreThread(Some(handle)),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Live events, in `seq` order, each sent once its write has committed.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.bus.subscribe()
    }

    /// Runs `f` on the store thread. When `f` succeeds, the events it appended are
    /// committed (every write commits before it returns `Ok`) and go out on the bus before
    /// the caller hears back; when it fails, they were rolled back and are dropped.
    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Box::new(move |conn, bus| {
                let result = f(conn);
                let appended = take_appended();
                if result.is_ok() {
                    for e in appended {
                        // No subscribers is fine: the event is in the database.
                        let _ = bus.send(e);
                    }
                }
                let _ = tx.send(result);
            }))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

impl Store {
    /// Runs `f` in one transaction on the store thread, committed when `f` returns `Ok` and
    /// rolled back (with the events it appended) when it fails.
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })
        .await
    }
}

/// The store thread; joining it waits until every queued write is on disk.
pub struct StoreThread(Option<std::thread::JoinHandle<()>>);

impl StoreThread {
    pub fn join(mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

fn open_connection(path: &Path) -> Result<Connection, StoreError> {
    let open_err = |message: String| StoreError::Open {
        path: path.to_path_buf(),
        message,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_err(format!("cannot open: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| open_err(e.to_string()))?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .map_err(|e| {
            open_err(format!(
                "is not a genq database or is damaged ({e}); it was left untouched"
            ))
        })?;
    if check != "ok" {
        return Err(open_err(format!(
            "failed its integrity check ({check}); it was left untouched. Move it aside to start afresh"
        )));
    }
    // Before anything that writes (even a journal mode change): a newer schema stays as it is.
    migrations::refuse_newer(&conn, path)?;
    // WAL: readers never wait for the writer; NORMAL sync keeps every commit across a crash
    // of the process (only power loss can take the last ones).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = NORMAL;
         PRAGMA foreign_keys = ON;",
    )
    .map_err(|e| open_err(e.to_string()))?;
    Ok(conn)
}
