//! One client connection: framing, the `hello` gate, dispatch, and the event subscription.
//!
//! Until `hello`, a connection gets little: short frames, a small byte budget and a few
//! seconds, so that idle or chattering clients cannot hold the daemon's slots.
//!
//! Replies and notifications go through one bounded queue to a writer task. A client that
//! stops reading fills that queue; only its own subscription then falls behind the event
//! bus and gets `resync`, and the daemon never waits for it.

use super::admission::Ticket;
use super::feed::{self, FeedItem};
use super::methods::{self, check_i64, params};
use super::state::ServerState;
use futures::{SinkExt, StreamExt};
use genq_protocol::methods::{
    self as m, HelloResult, Method, NOTIFY_EVENT, NOTIFY_RESYNC, ResyncParams, SubscribeResult,
};
use genq_protocol::rpc::{Notification, Request, Response, parse_request};
use genq_protocol::{
    ErrorKind, FrameError, MAX_FRAME_BYTES, NdjsonCodec, PROTOCOL_VERSION, RpcError,
};
use interprocess::local_socket::tokio::Stream;
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{FramedRead, FramedWrite};

/// Lines waiting to be written to one client.
const OUT_BUFFER: usize = 1024;
/// How long a new connection may take to say hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes a connection may send before its hello (a hello is a few dozen).
const PRE_HELLO_BYTES: usize = 64 * 1024;

pub async fn run(stream: Stream, state: Arc<ServerState>, ticket: Ticket) {
    let (read, write) = tokio::io::split(stream);
    let mut reader = FramedRead::new(read, NdjsonCodec::new(PRE_HELLO_BYTES));
    let mut writer = FramedWrite::new(write, NdjsonCodec::new(usize::MAX));
    let (out, mut out_rx) = mpsc::channel::<String>(OUT_BUFFER);
    let writer_task = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if writer.send(line).await.is_err() {
                break;
            }
        }
    });

    let mut session = Session {
        state: state.clone(),
        out,
        greeted: false,
        subscription: None,
        ticket,
        before_hello: 0,
    };
    let hello_deadline = tokio::time::sleep(HELLO_TIMEOUT);
    tokio::pin!(hello_deadline);
    loop {
        let frame = tokio::select! {
            f = reader.next() => f,
            _ = state.shutdown.cancelled() => break,
            _ = &mut hello_deadline, if !session.greeted => {
                let message = format!(
                    "no hello within {} s; closing the connection (the first request must be \
                     hello)",
                    HELLO_TIMEOUT.as_secs()
                );
                session.close_with(ErrorKind::HelloRequired, message).await;
                break;
            }
            _ = session.ticket.evicted(), if !session.greeted => {
                session.close_with(ErrorKind::HelloRequired, evicted_message()).await;
                break;
            }
        };
        if let Some(Ok(line)) = &frame
            && let Some(message) = session.over_hello_budget(line.len())
        {
            session.close_with(ErrorKind::HelloRequired, message).await;
            break;
        }
        match frame {
            None => break,
            Some(Err(FrameError::Io(e))) => {
                tracing::debug!("connection read error: {e}");
                break;
            }
            Some(Err(FrameError::TooLong { max })) => {
                let err = RpcError::new(
                    ErrorKind::FrameTooLarge,
                    format!("frame longer than {max} bytes; closing the connection"),
                );
                session.send(Response::err(Value::Null, err)).await;
                break;
            }
            Some(Ok(line)) => match parse_request(&line) {
                Ok(req) => {
                    if !session.handle(req).await {
                        break;
                    }
                    if session.greeted {
                        reader.decoder_mut().set_max(MAX_FRAME_BYTES);
                    }
                }
                Err((id, err)) => session.send(Response::err(id, err)).await,
            },
        }
    }
    if let Some(sub) = session.subscription.take() {
        sub.abort();
    }
    drop(session);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer_task).await;
}

struct Session {
    state: Arc<ServerState>,
    out: mpsc::Sender<String>,
    greeted: bool,
    subscription: Option<JoinHandle<()>>,
    /// This connection's slot among the daemon's connections.
    ticket: Ticket,
    /// Bytes received before the hello.
    before_hello: usize,
}

fn evicted_message() -> String {
    "the daemon is at its connection limit and this connection had not said hello; closing \
     it to make room"
        .to_string()
}

impl Session {
    async fn send(&self, resp: Response) {
        if let Ok(line) = serde_json::to_string(&resp) {
            let _ = self.out.send(line).await;
        }
    }

    /// Counts a frame against the budget before hello; the reason to close when it is spent.
    fn over_hello_budget(&mut self, frame_len: usize) -> Option<String> {
        if self.greeted {
            return None;
        }
        self.before_hello += frame_len + 1;
        (self.before_hello > PRE_HELLO_BYTES).then(|| {
            format!(
                "{} bytes sent without hello, more than the {PRE_HELLO_BYTES} allowed; closing \
                 the connection (the first request must be hello)",
                self.before_hello
            )
        })
    }

    /// Tells the client why the daemon closes the connection.
    async fn close_with(&self, kind: ErrorKind, message: String) {
        tracing::debug!("closing a connection: {message}");
        self.send(Response::err(Value::Null, RpcError::new(kind, message)))
            .await;
    }

    /// Handles one request; `false` closes the connection.
    async fn handle(&mut self, req: Request) -> bool {
        let Request {
            id,
            method,
            params: raw,
            ..
        } = req;
        if method == m::Hello::NAME {
            let outcome = hello(raw).and_then(|v| {
                if self.ticket.greeted() {
                    Ok(v)
                } else {
                    Err(RpcError::new(ErrorKind::HelloRequired, evicted_message()))
                }
            });
            let ok = outcome.is_ok();
            self.greeted |= ok;
            self.send(match outcome {
                Ok(v) => Response::ok(id, v),
                Err(e) => Response::err(id, e),
            })
            .await;
            return ok;
        }
        if !self.greeted {
            let err = RpcError::new(
                ErrorKind::HelloRequired,
                format!("the first request must be hello (got {method:?})"),
            );
            self.send(Response::err(id, err)).await;
            return true;
        }
        let outcome = if method == m::Subscribe::NAME {
            self.subscribe(raw).await
        } else {
            methods::dispatch(&self.state, &method, raw).await
        };
        match outcome {
            Ok(result) => {
                let _ = self.out.send(result_line(&id, &result)).await;
            }
            Err(e) => self.send(Response::err(id, e)).await,
        }
        true
    }

    /// Replies with the current head, then replays events after `since_seq` from the
    /// database and streams live ones, each exactly once.
    async fn subscribe(&mut self, raw: Option<Value>) -> Result<Box<RawValue>, RpcError> {
        let p = params::<m::Subscribe>(raw)?;
        check_i64("since_seq", p.since_seq)?;
        if let Some(old) = self.subscription.take() {
            old.abort();
        }
        // Listen before reading the head, so nothing falls between the two.
        let live = self.state.engine.events();
        let store = self.state.engine.store().clone();
        let head = store.head_seq().await?;
        let since = p.since_seq.unwrap_or(head);
        let out = self.out.clone();
        self.subscription = Some(tokio::spawn(feed::forward(store, live, since, out, notify)));
        methods::to_json(&SubscribeResult { head_seq: head })
    }
}

/// A success reply around a result already written as JSON: the line `Response::ok` makes.
fn result_line(id: &Value, result: &RawValue) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"result":{}}}"#, result.get())
}

fn hello(raw: Option<Value>) -> Result<Value, RpcError> {
    let p = params::<m::Hello>(raw)?;
    if p.protocol != PROTOCOL_VERSION {
        return Err(RpcError::new(
            ErrorKind::VersionMismatch,
            format!(
                "client {:?} speaks protocol {}, this daemon (genq {}) speaks protocol {}; \
                 use the same genq version for both (`genq daemon stop` restarts it with yours)",
                p.client,
                p.protocol,
                env!("CARGO_PKG_VERSION"),
                PROTOCOL_VERSION
            ),
        ));
    }
    serde_json::to_value(HelloResult {
        protocol: PROTOCOL_VERSION,
        version: env!("CARGO_PKG_VERSION").to_string(),
        pid: std::process::id(),
    })
    .map_err(|e| RpcError::new(ErrorKind::Internal, e.to_string()))
}

fn notification(method: &str, params: impl serde::Serialize) -> Option<String> {
    serde_json::to_string(&Notification::new(method, params)).ok()
}

/// A feed item as the line a subscriber reads.
fn notify(item: FeedItem<'_>) -> Option<String> {
    match item {
        FeedItem::Event(e) => notification(NOTIFY_EVENT, e),
        FeedItem::Resync { last_seq } => notification(
            NOTIFY_RESYNC,
            ResyncParams {
                last_seq,
                reason: "this client fell behind the event stream; refetch and subscribe \
                         again from last_seq"
                    .into(),
            },
        ),
    }
}
