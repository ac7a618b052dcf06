//! A running fake: its state behind the loopback axum server in a background task, and the
//! middleware that records every request and applies the scripted faults and delay before the
//! provider's own handler answers.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use super::common::json_reply;
use super::control::{Core, Endpoint, Fault, RecordedRequest, Script, Scripts};

/// Largest request body a fake accepts; real prompts are a few KB.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// What a fake's state tells the shared middleware.
pub trait Provider: Send + Sync + Sized + 'static {
    fn core(&self) -> &Core;
    /// Kind of request and the task id named in the path.
    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>);
    /// The provider's 429 reply for a scripted rate-limit fault.
    fn rate_limited(&self, endpoint: Endpoint, retry_after: Option<u64>) -> Response;
    /// The provider's reply for a scripted server error with this status.
    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response;
}

/// A fake that starts on its own: its name for messages, its state and its routes.
pub trait Served: Provider {
    /// The provider's name, for a failure to bind.
    const NAME: &'static str;
    /// How long its output URLs live by default.
    const URL_TTL: Duration;
    /// The state of a fresh fake around its control.
    fn new(core: Core) -> Self;
    fn router() -> Router<Arc<Self>>;
}

/// A fake whose tasks follow scripts.
pub trait Scripted: Provider {
    type Script: Script;
    fn scripts(&self) -> &Scripts<Self::Script>;
}

/// A running fake server on loopback. Dereferences to [`Core`], the control every fake
/// shares; dropping it stops the listener.
#[derive(Debug)]
pub struct Fake<P> {
    state: Arc<P>,
    _server: ServerTask,
}

impl<P: Provider> Deref for Fake<P> {
    type Target = Core;
    fn deref(&self) -> &Core {
        self.state.core()
    }
}

impl<P: Provider> Fake<P> {
    /// Binds `addr` (port 0 = ephemeral) and serves `router` around the state `new` makes.
    pub(crate) async fn serve(
        addr: SocketAddr,
        url_ttl: Duration,
        new: impl FnOnce(Core) -> P,
        router: Router<Arc<P>>,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let state = Arc::new(new(Core::new(local, url_ttl)));
        let app = router
            .layer(middleware::from_fn_with_state(state.clone(), observe::<P>))
            .with_state(state.clone());
        let server = ServerTask(tokio::spawn(async move {
            // The server only ends with the task being aborted; an accept error ends the fake.
            let _ = axum::serve(listener, app).await;
        }));
        Ok(Fake {
            state,
            _server: server,
        })
    }

    /// The fake's own state, for its provider-specific controls.
    pub(crate) fn state(&self) -> &P {
        &self.state
    }
}

impl<P: Served> Fake<P> {
    /// Start on an ephemeral loopback port. Test helper: panics if loopback cannot be bound.
    pub async fn start() -> Self {
        match Self::bind(ephemeral()).await {
            Ok(f) => f,
            Err(e) => panic!("fake {}: cannot bind 127.0.0.1: {e}", P::NAME),
        }
    }

    /// Start on `addr` (port 0 = ephemeral).
    pub async fn bind(addr: SocketAddr) -> std::io::Result<Self> {
        Self::serve(addr, P::URL_TTL, P::new, P::router()).await
    }
}

impl<P: Scripted> Fake<P> {
    /// Script for every task without a queued script.
    pub fn set_script(&self, script: P::Script) {
        self.state.scripts().set_default(script);
    }

    /// Shortcut: default script succeeding after `duration`.
    pub fn set_duration(&self, duration: Duration) {
        self.set_script(P::Script::succeed_after(duration));
    }

    /// Script for the next submit only; queued scripts are used in order.
    pub fn script_next(&self, script: P::Script) {
        self.state.scripts().push_next(script);
    }
}

/// The loopback address with an ephemeral port.
pub(crate) fn ephemeral() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A fake's server task; dropping it stops accepting connections.
#[derive(Debug)]
struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Records the request, then applies the global delay and the next matching fault.
async fn observe<P: Provider>(State(p): State<Arc<P>>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("request body unreadable or larger than {MAX_BODY} bytes: {e}"),
            )
                .into_response();
        }
    };
    let path = parts.uri.path().to_string();
    let (endpoint, task_id) = p.classify(&parts.method, &path);
    p.core().record(RecordedRequest {
        method: parts.method.to_string(),
        path,
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: serde_json::from_slice(&bytes).ok(),
        body_text: String::from_utf8_lossy(&bytes).into_owned(),
        endpoint,
        task_id,
        at: SystemTime::now(),
    });

    let delay = p.core().delay();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    match p.core().take_fault(endpoint) {
        None => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Some(fault) => {
            let req = Request::from_parts(parts, Body::from(bytes));
            misbehave(&*p, endpoint, fault, req, next).await
        }
    }
}

/// The reply to a request that a scripted fault is applied to.
async fn misbehave<P: Provider>(
    p: &P,
    endpoint: Endpoint,
    fault: Fault,
    req: Request,
    next: Next,
) -> Response {
    let status =
        |code: u16| StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match fault {
        Fault::Delay(d) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Fault::RateLimited { retry_after } => p.rate_limited(endpoint, retry_after),
        Fault::ServerError(code) => p.server_error(endpoint, status(code)),
        Fault::Reply { status: code, body } => json_reply(status(code), &body),
        Fault::AcceptThenError(code) => {
            let _accepted = next.run(req).await;
            p.server_error(endpoint, status(code))
        }
        Fault::AcceptThenDrop => {
            let _accepted = next.run(req).await;
            // A body failing at its first poll makes the server close the connection before
            // it has written the status line.
            let stream = futures::stream::once(async {
                Err::<Bytes, _>(std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "fake: dropped on purpose",
                ))
            });
            Response::new(Body::from_stream(stream))
        }
        Fault::AcceptThenLate(d) => {
            let reply = next.run(req).await;
            tokio::time::sleep(d).await;
            reply
        }
        Fault::EchoHeaders(code) => {
            let headers: serde_json::Map<String, Value> = req
                .headers()
                .iter()
                .map(|(n, v)| {
                    let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
                    (n.as_str().to_string(), Value::String(v))
                })
                .collect();
            json_reply(
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                &serde_json::json!({"error": "request rejected", "headers": headers}),
            )
        }
        Fault::HugeBody(size) => huge_body(size),
        Fault::Malformed => {
            let (mut parts, body) = next.run(req).await.into_parts();
            let full = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(full.slice(..full.len() / 2)))
        }
        Fault::Truncated => truncated(next.run(req).await).await,
    }
}

/// `reply` with its full `Content-Length` announced, half its body sent, then the connection
/// dropped.
async fn truncated(reply: Response) -> Response {
    let (mut parts, body) = reply.into_parts();
    let full = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
    let half = full.slice(..full.len() / 2);
    // The pause makes the body stream return Pending once, so the server flushes the
    // headers and the first half before the error drops the connection.
    let stream = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(
        futures::stream::once(async {
            tokio::time::sleep(Duration::from_millis(20)).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fake: truncated on purpose",
            ))
        }),
    );
    Response::from_parts(parts, Body::from_stream(stream))
}

/// A 200 reply of `size` bytes that starts like JSON and never closes, sent in 1 MiB chunks
/// that share one buffer, so even a huge reply costs the fake nothing.
fn huge_body(size: u64) -> Response {
    const CHUNK: usize = 1024 * 1024;
    let head = Bytes::from_static(b"{\"pad\":\"");
    let fill = Bytes::from(vec![b'x'; CHUNK]);
    let mut left = size.saturating_sub(head.len() as u64);
    let chunks = std::iter::once(head).chain(std::iter::from_fn(move || {
        (left > 0).then(|| {
            let n = left.min(CHUNK as u64) as usize;
            left -= n as u64;
            fill.slice(..n)
        })
    }));
    let stream = futures::stream::iter(chunks.map(Ok::<_, std::io::Error>));
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(stream),
    )
        .into_response()
}
