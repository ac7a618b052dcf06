//! The client side of the protocol: connects to the daemon's socket (starting the daemon
//! when it is not running), says hello, and offers typed calls. Responses are matched to
//! calls by id on a background reader, so calls may run concurrently; notifications
//! (events, resync) arrive on a channel of their own.
//!
//! A daemon on another machine is reached through the user's `ssh` running `genq dial-stdio`
//! there (`ssh.rs`; `dial.rs` is that far end); `endpoint.rs` says which of the two to use.
//!
//! Nothing is sent before the socket's directory has passed the same check the daemon
//! makes (ours, `0700`, not a link) and, where the OS tells, the process answering on the
//! socket runs as this user: a socket another user planted never sees a request.

use futures::{SinkExt, StreamExt};
use genq_protocol::daemon_record::locate;
use genq_protocol::methods::{
    Hello, HelloParams, HelloResult, NOTIFY_EVENT, NOTIFY_RESYNC, ResyncParams,
};
use genq_protocol::paths::{UnsafeDir, inspect_socket_dir};
use genq_protocol::rpc::{Incoming, Notification, Request, Version2};
use genq_protocol::{
    MAX_CLIENT_FRAME_BYTES, Method, NdjsonCodec, PROTOCOL_VERSION, Paths, RpcError,
};
use interprocess::local_socket::tokio::Stream;
use interprocess::local_socket::traits::tokio::Stream as _;
use interprocess::local_socket::{GenericFilePath, ToFsName};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::codec::{FramedRead, FramedWrite};

mod dial;
mod endpoint;
mod reply;
mod ssh;

use reply::Reply;
pub use reply::ResultText;

pub use dial::dial_stdio;
pub use endpoint::Endpoint;
pub use ssh::{RemoteRun, SshError, SshHost};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("the genq daemon is not running (socket {socket}); start it with `genq daemon start`")]
    NotRunning { socket: String },
    #[error("cannot connect to the genq daemon at {socket}: {source}")]
    Connect {
        socket: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    UnsafeSocketDir(#[from] UnsafeDir),
    #[error(
        "the process answering on {socket} runs as {peer}, not as you (uid {me}); genq sent it \
         nothing. Stop that process or remove the socket, then try again"
    )]
    ForeignDaemon {
        socket: String,
        peer: String,
        me: u32,
    },
    #[error(
        "the genq daemon of this home is running (pid {pid}) but cannot be reached at \
         {socket}: {problem}; `genq daemon stop` can still stop it"
    )]
    Unreachable {
        pid: String,
        socket: String,
        problem: String,
        /// Whether the daemon is expected to answer shortly.
        transient: bool,
    },
    #[error("could not start the genq daemon: {0}")]
    Autostart(String),
    #[error("the connection to the daemon was lost")]
    Disconnected,
    #[error("{0}")]
    Rpc(#[from] RpcError),
    #[error("the daemon sent something this client cannot read: {0}")]
    BadReply(String),
    #[error(transparent)]
    Ssh(#[from] ssh::SshError),
}

impl ClientError {
    /// The protocol error, when the daemon answered with one.
    pub fn rpc(&self) -> Option<&RpcError> {
        match self {
            ClientError::Rpc(e) => Some(e),
            _ => None,
        }
    }
}

/// Calls waiting for their reply, and whether the connection is gone: once it is, a new call
/// fails at once instead of waiting for a reply that cannot come.
#[derive(Default)]
struct Calls {
    waiting: HashMap<u64, oneshot::Sender<ReplyOutcome>>,
    closed: bool,
    /// Why the daemon closed the connection, when it said (at its connection limit, no
    /// hello in time). Kept for calls made after it arrived: it can come before the first
    /// call is even sent.
    reason: Option<RpcError>,
}

impl Calls {
    /// What a call gets once the connection is gone.
    fn gone(&self) -> ClientError {
        match &self.reason {
            Some(err) => ClientError::Rpc(err.clone()),
            None => ClientError::Disconnected,
        }
    }
}

type Pending = Arc<Mutex<Calls>>;

/// A call's result as the daemon wrote it (`None`: no result), or its error.
type ReplyOutcome = Result<Option<ResultText>, RpcError>;

/// A connection to the daemon. Cheap to clone; all clones share the connection.
#[derive(Clone)]
pub struct Client {
    out: mpsc::Sender<String>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    pub daemon: HelloResult,
}

/// How many notifications may wait unread before the oldest are dropped and the reader is
/// told to resync.
const NOTIFY_BUFFER: usize = 4096;

impl Client {
    /// Connects to a running daemon and says hello.
    pub async fn connect(
        paths: &Paths,
        client_name: &str,
    ) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        let stream = open_stream(paths).await?;
        let (read, write) = tokio::io::split(stream);
        Client::hello_over(read, write, client_name).await
    }

    /// Says hello over an open byte stream (a socket, or a relay's stdio) and serves it.
    async fn hello_over(
        read: impl AsyncRead + Send + Unpin + 'static,
        write: impl AsyncWrite + Send + Unpin + 'static,
        client_name: &str,
    ) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        let reader = FramedRead::new(read, NdjsonCodec::new(MAX_CLIENT_FRAME_BYTES));
        let mut writer = FramedWrite::new(write, NdjsonCodec::new(MAX_CLIENT_FRAME_BYTES));

        let (out_tx, mut out_rx) = mpsc::channel::<String>(64);
        tokio::spawn(async move {
            while let Some(line) = out_rx.recv().await {
                if writer.send(line).await.is_err() {
                    break;
                }
            }
        });

        let pending: Pending = Arc::default();
        let (note_tx, note_rx) = mpsc::channel(NOTIFY_BUFFER);
        tokio::spawn(read_replies(reader, pending.clone(), note_tx));

        let mut client = Client {
            out: out_tx,
            pending,
            next_id: Arc::new(AtomicU64::new(1)),
            daemon: HelloResult {
                protocol: 0,
                version: String::new(),
                pid: 0,
            },
        };
        client.daemon = client
            .call::<Hello>(HelloParams {
                protocol: PROTOCOL_VERSION,
                client: client_name.to_string(),
            })
            .await?;
        Ok((client, note_rx))
    }

    /// Connects, starting the daemon first when it is not running and `autostart` allows, or
    /// waiting for a running one that does not answer yet.
    pub async fn connect_or_start(
        paths: &Paths,
        client_name: &str,
        autostart: bool,
    ) -> Result<(Client, mpsc::Receiver<Notification>), ClientError> {
        match Client::connect(paths, client_name).await {
            Err(ClientError::NotRunning { .. }) if autostart => {
                start_daemon(paths).await?;
                Client::connect(paths, client_name).await
            }
            // Waiting for a live daemon is not starting one: autostart does not matter.
            Err(ClientError::Unreachable {
                transient: true, ..
            }) => {
                wait_for_daemon(paths).await?;
                Client::connect(paths, client_name).await
            }
            other => other,
        }
    }

    /// Calls a method and waits for its result.
    pub async fn call<M: Method>(&self, params: M::Params) -> Result<M::Result, ClientError> {
        let raw = self.call_raw::<M>(params).await?;
        let text = raw.as_ref().map_or("null", ResultText::get);
        serde_json::from_str(text).map_err(|e| ClientError::BadReply(e.to_string()))
    }

    /// Calls a method and waits for its result as the JSON text the daemon sent, for a
    /// caller that passes it on or reads it in a shape of its own.
    pub async fn call_raw<M: Method>(
        &self,
        params: M::Params,
    ) -> Result<Option<ResultText>, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let req = Request {
            jsonrpc: Version2,
            id: id.into(),
            method: M::NAME.to_string(),
            params: Some(
                serde_json::to_value(params).map_err(|e| ClientError::BadReply(e.to_string()))?,
            ),
        };
        let line = serde_json::to_string(&req).map_err(|e| ClientError::BadReply(e.to_string()))?;
        let (tx, rx) = oneshot::channel();
        {
            let mut calls = self.pending.lock().await;
            if calls.closed || calls.reason.is_some() {
                return Err(calls.gone());
            }
            calls.waiting.insert(id, tx);
        }
        if self.out.send(line).await.is_err() {
            let mut calls = self.pending.lock().await;
            calls.waiting.remove(&id);
            return Err(calls.gone());
        }
        match rx.await {
            Ok(reply) => Ok(reply?),
            Err(_) => Err(self.pending.lock().await.gone()),
        }
    }
}

/// The daemon's socket, once its directory passed the daemon's own check and the process
/// answering on it runs as this user. Where it is comes from the lock's record while a daemon
/// holds the lock ([`locate`]), so the client's own `XDG_RUNTIME_DIR` does not matter.
async fn open_stream(paths: &Paths) -> Result<Stream, ClientError> {
    let found = locate(paths);
    match (connect_at(&found.socket).await, found.pid) {
        (Ok(stream), _) => Ok(stream),
        (Err(e @ ClientError::ForeignDaemon { .. }), _) | (Err(e), None) => Err(e),
        (Err(e), Some(pid)) => Err(unreachable(e, pid, &found.socket)),
    }
}

/// A live daemon that cannot be reached: what is wrong, and whether it is the kind of thing
/// the daemon repairs itself (its socket not there yet, or gone and being bound again).
fn unreachable(e: ClientError, pid: String, socket: &Path) -> ClientError {
    let (problem, transient) = match e {
        ClientError::NotRunning { .. } => (
            "nothing listens there (the daemon is starting, or binds its socket again within \
             a few seconds after its directory was removed)"
                .to_string(),
            true,
        ),
        ClientError::Connect { source, .. } => (source.to_string(), true),
        other => (other.to_string(), false),
    };
    ClientError::Unreachable {
        pid,
        socket: socket.display().to_string(),
        problem,
        transient,
    }
}

/// Connects to the socket at `path` after checking its directory and its peer.
async fn connect_at(path: &Path) -> Result<Stream, ClientError> {
    let socket = path.display().to_string();
    let dir = path.parent().unwrap_or(Path::new("/"));
    if !inspect_socket_dir(dir, nix::unistd::geteuid().as_raw())? {
        return Err(ClientError::NotRunning { socket });
    }
    let name = path
        .to_fs_name::<GenericFilePath>()
        .map_err(|source| ClientError::Connect {
            socket: socket.clone(),
            source,
        })?;
    let stream = match Stream::connect(name).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Err(ClientError::NotRunning { socket });
        }
        Err(source) => return Err(ClientError::Connect { socket, source }),
    };
    check_peer(&stream, &socket)?;
    Ok(stream)
}

/// The background reader: each reply goes to the call waiting for it, each notification to
/// the channel, until the connection ends.
async fn read_replies(
    mut reader: FramedRead<impl AsyncRead + Unpin, NdjsonCodec>,
    pending: Pending,
    notes: mpsc::Sender<Notification>,
) {
    let mut notes = NotificationForwarder {
        notes,
        last_seq: None,
        lost: false,
    };
    while let Some(Ok(line)) = reader.next().await {
        if let Some((id, text)) = reply::plain_result(&line) {
            if let Some(tx) = pending.lock().await.waiting.remove(&id) {
                let _ = tx.send(Ok(Some(text)));
            }
            continue;
        }
        match serde_json::from_slice::<Reply>(&line) {
            Ok(reply) if reply.method.is_none() || reply.id.is_some() => {
                answer(&pending, reply).await
            }
            Ok(_) => {
                if let Ok(Incoming::Notification(n)) = Incoming::parse(&line) {
                    notes.forward(n)
                }
            }
            Err(_) => continue,
        }
    }
    // Fail every call still waiting, and every later one: the connection is gone.
    let mut calls = pending.lock().await;
    calls.closed = true;
    calls.waiting.clear();
}

/// Hands a reply to the call waiting for it.
async fn answer(pending: &Pending, resp: Reply) {
    let Some(id) = resp.id.as_ref().and_then(|id| id.as_u64()) else {
        // The daemon closes the connection with a reason (at its connection limit, no hello
        // in time): every call gets it, those waiting and those still to come.
        if let Some(err) = resp.error {
            let mut calls = pending.lock().await;
            for (_, tx) in calls.waiting.drain() {
                let _ = tx.send(Err(err.clone()));
            }
            calls.reason = Some(err);
        }
        return;
    };
    if let Some(tx) = pending.lock().await.waiting.remove(&id) {
        let outcome = match (resp.result, resp.error) {
            (_, Some(err)) => Err(err),
            (result, None) => Ok(result.as_deref().map(ResultText::of)),
        };
        let _ = tx.send(outcome);
    }
}

/// Passes notifications on without ever waiting for their reader. A reader that fell behind
/// loses notifications here, then gets a `resync` telling it where to pick up; the connection
/// never stalls.
struct NotificationForwarder {
    notes: mpsc::Sender<Notification>,
    /// The seq of the last event handed to the reader.
    last_seq: Option<u64>,
    /// Whether some were dropped since: then a `resync` from that seq goes ahead of the next.
    lost: bool,
}

impl NotificationForwarder {
    fn forward(&mut self, n: Notification) {
        if self.lost {
            let resync = Notification::new(
                NOTIFY_RESYNC,
                ResyncParams {
                    last_seq: self.last_seq.unwrap_or(0),
                    reason: "this client fell behind and dropped notifications".into(),
                },
            );
            if self.notes.try_send(resync).is_err() {
                return;
            }
            self.lost = false;
        }
        let seq = (n.method == NOTIFY_EVENT)
            .then(|| n.params.as_ref()?.get("seq")?.as_u64())
            .flatten();
        match self.notes.try_send(n) {
            Ok(()) => self.last_seq = seq.or(self.last_seq),
            Err(mpsc::error::TrySendError::Full(_)) => self.lost = true,
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

/// Refuses a socket served by another user.
#[cfg(target_os = "linux")]
fn check_peer(stream: &Stream, socket: &str) -> Result<(), ClientError> {
    use interprocess::local_socket::traits::StreamCommon;
    let me = nix::unistd::geteuid().as_raw();
    let peer = match stream.peer_creds() {
        Ok(creds) => creds.euid(),
        Err(_) => None,
    };
    match peer {
        Some(uid) if uid == me => Ok(()),
        other => Err(ClientError::ForeignDaemon {
            socket: socket.to_string(),
            peer: other.map_or("an unknown user".to_string(), |uid| format!("uid {uid}")),
            me,
        }),
    }
}

#[cfg(not(target_os = "linux"))]
fn check_peer(_stream: &Stream, _socket: &str) -> Result<(), ClientError> {
    Ok(())
}

/// Starts `genq daemon run` detached from this process (own session, output to the log) and
/// waits until its socket answers.
pub async fn start_daemon(paths: &Paths) -> Result<(), ClientError> {
    let exe = std::env::current_exe().map_err(|e| ClientError::Autostart(e.to_string()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["daemon", "run", "--detached"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    // `--detached` makes the daemon start its own session, so the terminal closing or an
    // SSH logout does not reach it.
    let mut child = cmd
        .spawn()
        .map_err(|e| ClientError::Autostart(e.to_string()))?;
    let reason = read_start_failure(&mut child);
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(5);
    let mut exited = None;
    loop {
        match Client::connect(paths, "genq-autostart").await {
            Ok(_) => {
                // Reap the child in the background once it exits, without waiting for it.
                std::thread::spawn(move || child.wait());
                return Ok(());
            }
            // A daemon that is still starting (or one that was just stopping) may refuse
            // or drop a connection for a moment.
            Err(ClientError::NotRunning { .. })
            | Err(ClientError::Connect { .. })
            | Err(ClientError::Unreachable {
                transient: true, ..
            })
            | Err(ClientError::Disconnected) => {}
            Err(e) => return Err(e),
        }
        if exited.is_none() {
            // Another client may have started a daemon at the same moment: ours then exits
            // because the lock is taken, and the other one answers shortly.
            exited = child.try_wait().ok().flatten();
        }
        let budget = if exited.is_some() {
            Duration::from_secs(3)
        } else {
            Duration::from_secs(15)
        };
        if started.elapsed() > budget {
            let why = match exited {
                Some(status) => reason
                    .recv_timeout(Duration::from_secs(1))
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| format!("the daemon exited ({status})")),
                None => "its socket did not answer within 15 s".to_string(),
            };
            return Err(ClientError::Autostart(format!(
                "{why} (log: {})",
                paths.log_file().display()
            )));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// How long a client waits for a live daemon to answer on its socket again.
const REBIND_PATIENCE: Duration = Duration::from_secs(15);

/// Waits until a running daemon that cannot be reached yet (starting, or binding its socket
/// again) answers; its last error after [`REBIND_PATIENCE`].
pub async fn wait_for_daemon(paths: &Paths) -> Result<(), ClientError> {
    let started = tokio::time::Instant::now();
    let mut delay = Duration::from_millis(5);
    loop {
        match Client::connect(paths, "genq-wait").await {
            Ok(_) => return Ok(()),
            Err(
                e @ (ClientError::Unreachable {
                    transient: true, ..
                }
                | ClientError::Disconnected),
            ) => {
                if started.elapsed() > REBIND_PATIENCE {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_millis(200));
    }
}

/// Reads the starting daemon's stderr on a thread of its own until it closes: when the
/// daemon serves it lets go of the pipe; when it cannot start, its last line says why
/// (`refusing to start: …`), and that line is sent back.
fn read_start_failure(
    child: &mut std::process::Child,
) -> std::sync::mpsc::Receiver<Option<String>> {
    let (tx, rx) = std::sync::mpsc::channel();
    if let Some(stderr) = child.stderr.take() {
        std::thread::spawn(move || {
            use std::io::Read;
            let mut text = String::new();
            let _ = std::io::BufReader::new(stderr).read_to_string(&mut text);
            let last = text
                .lines()
                .rev()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(|l| l.strip_prefix("genq: ").unwrap_or(l).to_string());
            let _ = tx.send(last);
        });
    }
    rx
}
