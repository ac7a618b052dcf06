//! The store thread that owns the one connection, and the cheap handle async code uses to
//! send it work.
//!
//! Writes are committed in groups: the writes waiting when one starts run in the same
//! transaction, each under a savepoint of its own (one that fails is rolled back alone), and
//! each hears back only once that transaction has committed. A burst of submits from many
//! clients costs one commit, and every one of them is durable when it is acknowledged.

use super::appended::take_appended;
use super::catalog_state::CatalogSnapshot;
use super::error::StoreError;
use super::migrations;
use super::read_ahead::ReadAhead;
use super::wire;
use genq_protocol::Event;
use rusqlite::{Connection, OpenFlags, Transaction, ffi};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use tokio::sync::{broadcast, oneshot};

/// How many events the bus keeps for slow subscribers before they must resync.
const BUS_CAPACITY: usize = 4096;
/// Writes committed together at most, so the first of a long burst is not kept waiting.
const MAX_GROUP: usize = 256;

type Bus = broadcast::Sender<Event>;

/// A read, run on the reader's connection.
type Read = Box<dyn FnOnce(&Connection) + Send>;

/// Sends a write's outcome once its group's fate is known: `None` when the group committed,
/// else why it did not.
type Reply = Box<dyn FnOnce(Option<GroupFailure>) + Send>;

/// A write: runs in the writer's transaction (`None`: there is none to run in), says
/// whether it succeeded, and how to answer.
type Write = Box<dyn FnOnce(Option<&Transaction<'_>>) -> (bool, Reply) + Send>;

/// Work that runs on the writer's connection as it is.
type Call = Box<dyn FnOnce(&mut Connection, &Bus) + Send>;

enum Task {
    Call(Call),
    Write(Write),
}

/// Why a group of writes was not committed, given to each of them.
#[derive(Clone, Debug)]
struct GroupFailure {
    code: ffi::Error,
    message: String,
}

impl GroupFailure {
    fn of(e: &rusqlite::Error) -> GroupFailure {
        GroupFailure {
            code: e
                .sqlite_error()
                .copied()
                .unwrap_or_else(|| ffi::Error::new(ffi::SQLITE_ERROR)),
            message: e.to_string(),
        }
    }

    fn error(self) -> StoreError {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(
            self.code,
            Some(self.message),
        ))
    }
}

/// Handle to the store thread. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    tx: std_mpsc::Sender<Task>,
    reads: std_mpsc::Sender<Read>,
    path: PathBuf,
    bus: Bus,
    catalog: Arc<CatalogSnapshot>,
    read_ahead: Arc<ReadAhead>,
}

impl Store {
    /// Opens (or creates) the database, refusing one that is damaged or comes from a newer
    /// genq, and brings an older schema up to date. Never deletes or overwrites user data.
    pub fn open(path: &Path) -> Result<(Store, StoreThread), StoreError> {
        let mut conn = open_connection(path)?;
        migrations::check_and_migrate(&mut conn, path)?;
        let reads = start_reader(path)?;
        let (tx, rx) = std_mpsc::channel::<Task>();
        let (bus, _) = broadcast::channel(BUS_CAPACITY);
        let thread_bus = bus.clone();
        let handle = std::thread::Builder::new()
            .name("genq-store".into())
            .spawn(move || serve(conn, &rx, &thread_bus))
            .map_err(|e| StoreError::Open {
                path: path.to_path_buf(),
                message: format!("cannot start the database thread: {e}"),
            })?;
        Ok((
            Store {
                tx,
                reads,
                path: path.to_path_buf(),
                bus,
                catalog: Arc::default(),
                read_ahead: Arc::default(),
            },
            StoreThread(Some(handle)),
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn catalog_snapshot(&self) -> &CatalogSnapshot {
        &self.catalog
    }

    pub(super) fn read_ahead(&self) -> &ReadAhead {
        &self.read_ahead
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
            .send(Task::Call(Box::new(move |conn, bus| {
                let result = f(conn);
                let appended = take_appended();
                if result.is_ok() {
                    for e in appended {
                        // No subscribers is fine: the event is in the database.
                        let _ = bus.send(e);
                    }
                }
                let _ = tx.send(result);
            })))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the reader's connection, beside the writer: what it reads is committed
    /// (every write answers after its commit), and it never waits behind a write.
    pub(super) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.read_later(f).await.map_err(|_| StoreError::Closed)?
    }

    /// Queues `f` on the reader's connection and gives the way to its result, for a read
    /// started before anyone waits on it.
    pub(super) fn read_later<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> oneshot::Receiver<Result<T, StoreError>> {
        let (tx, rx) = oneshot::channel();
        // A closed reader drops `tx`, which the receiver reports.
        let _ = self.reads.send(Box::new(move |conn| {
            let _ = tx.send(f(conn));
        }));
        rx
    }

    /// Runs `f` in a transaction on the store thread, rolled back (with the events it
    /// appended) when it fails. It answers once the transaction has committed, which it may
    /// share with other writes that were waiting (see the module's note).
    pub(super) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        let write: Write = Box::new(move |conn| {
            let ran = conn.is_some();
            let result = match conn {
                Some(conn) => f(conn),
                None => Err(StoreError::Closed),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |failed| {
                let outcome = match (failed, result) {
                    (Some(failed), Ok(_)) => Err(failed.error()),
                    (Some(failed), Err(_)) if !ran => Err(failed.error()),
                    (_, result) => result,
                };
                let _ = tx.send(outcome);
            });
            (ok, reply)
        });
        self.tx
            .send(Task::Write(write))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

/// Runs on the store thread until every handle is dropped: queued writes are finished first.
/// Between tasks it renders the jobs' wire text that changes cleared (see `wire`), a step at
/// a time, so a task waits at most one step.
fn serve(mut conn: Connection, rx: &std_mpsc::Receiver<Task>, bus: &Bus) {
    // From the start: an upgraded database, or another program's change, may have left rows.
    let mut fill_after = Some(String::new());
    loop {
        let task = match rx.try_recv() {
            Ok(task) => task,
            Err(std_mpsc::TryRecvError::Disconnected) => break,
            Err(std_mpsc::TryRecvError::Empty) => {
                if let Some(after) = fill_after.take() {
                    fill_after = fill_wire_step(&mut conn, &after);
                    continue;
                }
                match rx.recv() {
                    Ok(task) => task,
                    Err(_) => break,
                }
            }
        };
        let mut next = Some(task);
        while let Some(task) = next.take() {
            next = match task {
                Task::Call(f) => {
                    f(&mut conn, bus);
                    None
                }
                Task::Write(first) => write_group(&mut conn, first, rx, bus),
            };
        }
        fill_after = Some(String::new());
    }
    let _ = conn.execute_batch("PRAGMA optimize;");
}

/// Renders one idle step of wire text after `after`; where to go on from, if anywhere.
fn fill_wire_step(conn: &mut Connection, after: &str) -> Option<String> {
    let step = conn.transaction().map_err(StoreError::from).and_then(|tx| {
        let last = wire::refresh(&tx, after, wire::IDLE_STEP)?;
        tx.commit()?;
        Ok(last)
    });
    step.unwrap_or_else(|e| {
        tracing::warn!("cannot store jobs' listing text: {e}");
        None
    })
}

/// Renders the wire text of the rows the group changed, under a savepoint of its own: when
/// it fails, the group's writes still commit and listings render those rows themselves.
fn refresh_wire_in(tx: &Transaction<'_>) {
    let refreshed = tx
        .execute_batch("SAVEPOINT genq_wire")
        .map_err(StoreError::from)
        .and_then(|()| wire::refresh(tx, "", wire::BEFORE_COMMIT));
    let end = match &refreshed {
        Ok(_) => "RELEASE genq_wire",
        Err(e) => {
            tracing::warn!("cannot store jobs' listing text: {e}");
            "ROLLBACK TO genq_wire; RELEASE genq_wire"
        }
    };
    let _ = tx.execute_batch(end);
}

/// Runs `first` and the writes queued behind it in one transaction, each under its own
/// savepoint, commits, publishes their events and answers them. Returns the call that
/// ended the group, if one did.
fn write_group(
    conn: &mut Connection,
    first: Write,
    rx: &std_mpsc::Receiver<Task>,
    bus: &Bus,
) -> Option<Task> {
    let tx = match conn.transaction() {
        Ok(tx) => tx,
        Err(e) => {
            let (_, reply) = first(None);
            reply(Some(GroupFailure::of(&e)));
            return None;
        }
    };
    let mut replies: Vec<Reply> = Vec::new();
    let mut events = Vec::new();
    let mut lost = None;
    let mut left = None;
    let mut next = Some(first);
    while let Some(write) = next.take() {
        let (ok, reply) = in_savepoint(&tx, write);
        let appended = take_appended();
        replies.push(reply);
        if tx.is_autocommit() {
            // An error rolled the whole transaction back: the writes before it are gone.
            lost = Some(GroupFailure {
                code: ffi::Error::new(ffi::SQLITE_ABORT),
                message: "rolled back with the transaction it shared with a failed write".into(),
            });
            break;
        }
        if ok {
            events.extend(appended);
        }
        if replies.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(Task::Write(w)) => next = Some(w),
                Ok(call) => left = Some(call),
                Err(_) => {}
            }
        }
    }
    let failed = match lost {
        Some(lost) => Some(lost),
        None => {
            refresh_wire_in(&tx);
            tx.commit().err().map(|e| GroupFailure::of(&e))
        }
    };
    if failed.is_none() {
        for e in events {
            // No subscribers is fine: the event is in the database.
            let _ = bus.send(e);
        }
    }
    for reply in replies {
        reply(failed.clone());
    }
    left
}

/// Runs one write under a savepoint: released when it succeeds, rolled back when it fails.
fn in_savepoint(tx: &Transaction<'_>, write: Write) -> (bool, Reply) {
    if let Err(e) = tx.execute_batch("SAVEPOINT genq_write") {
        let (_, reply) = write(None);
        let failure = GroupFailure::of(&e);
        return (false, Box::new(move |_| reply(Some(failure))));
    }
    let (ok, reply) = write(Some(tx));
    let end = if ok {
        "RELEASE genq_write"
    } else {
        "ROLLBACK TO genq_write; RELEASE genq_write"
    };
    match tx.execute_batch(end) {
        Ok(()) => (ok, reply),
        Err(e) => {
            let failure = GroupFailure::of(&e);
            (false, Box::new(move |_| reply(Some(failure))))
        }
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

/// The reader: a second connection on a thread of its own, that only reads. It ends when
/// the last handle is dropped.
fn start_reader(path: &Path) -> Result<std_mpsc::Sender<Read>, StoreError> {
    let open_err = |message: String| StoreError::Open {
        path: path.to_path_buf(),
        message,
    };
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| open_err(format!("cannot open for reading: {e}")))?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .and_then(|()| conn.execute_batch("PRAGMA query_only = ON;"))
        .map_err(|e| open_err(e.to_string()))?;
    let (tx, rx) = std_mpsc::channel::<Read>();
    std::thread::Builder::new()
        .name("genq-store-read".into())
        .spawn(move || {
            while let Ok(read) = rx.recv() {
                read(&conn);
            }
        })
        .map_err(|e| open_err(format!("cannot start the database reader: {e}")))?;
    Ok(tx)
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
