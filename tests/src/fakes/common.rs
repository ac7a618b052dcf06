//! Pieces every fake provider shares: the loopback axum server in a background task, the request
//! log, fault injection (429 bursts, 5xx, malformed or truncated bodies, delays), output image
//! generation and time helpers.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::flights::Flights;

/// Largest request body a fake accepts; real prompts are a few KB.
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Which kind of request a fault (or a recorded request) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Task creation (`POST …/generations`, `POST …/image-synthesis`).
    Submit,
    /// Task status query (`GET …/tasks/{id}`).
    Poll,
    /// Account balance (ModelScope only).
    Balance,
    /// Output file download served by the fake.
    Download,
    /// An input file upload (Tripo's `/upload`, `/upload/sts`).
    Upload,
    /// Any path the fake does not know.
    Other,
    /// Scope only: Submit, Poll or Balance.
    Api,
    /// Scope only: every request.
    All,
}

impl Endpoint {
    /// Whether a fault scoped to `self` applies to a request of kind `actual`.
    pub fn matches(self, actual: Endpoint) -> bool {
        match self {
            Endpoint::All => true,
            Endpoint::Api => matches!(
                actual,
                Endpoint::Submit | Endpoint::Poll | Endpoint::Balance
            ),
            scope => scope == actual,
        }
    }
}

/// A scripted misbehaviour, applied to the next matching request(s).
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// 429 with the provider's rate-limit body and headers; `retry_after` adds `Retry-After`.
    RateLimited { retry_after: Option<u64> },
    /// This HTTP status (5xx usually) with the provider's error envelope.
    ServerError(u16),
    /// The request is handled (a submit creates its task), then the real reply is cut in half
    /// with a consistent `Content-Length`: valid HTTP, invalid JSON (or a short image).
    Malformed,
    /// The real reply's full `Content-Length` announced, half the bytes sent, then the
    /// connection is dropped.
    Truncated,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Answer with exactly this status and JSON body instead of the real reply.
    Reply { status: u16, body: Value },
    /// The request is handled (a submit creates its task), then answered with this status and
    /// the provider's error envelope, as a provider failing after it accepted the work.
    AcceptThenError(u16),
    /// The request is handled, then the connection is closed without any reply.
    AcceptThenDrop,
    /// The request is handled, then the reply is held back this long (past a client timeout).
    AcceptThenLate(Duration),
    /// Answer with this status and a JSON body echoing the request's headers, as some
    /// proxies and debugging endpoints do.
    EchoHeaders(u16),
    /// Answer 200 with a body of this many bytes, streamed without a `Content-Length`.
    HugeBody(u64),
}

/// One request as the fake received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON, when it was JSON.
    pub body: Option<Value>,
    /// The raw body as text (lossy).
    pub body_text: String,
    pub endpoint: Endpoint,
    /// Task id named in the path (polls and downloads).
    pub task_id: Option<String>,
    pub at: SystemTime,
}

impl RecordedRequest {
    /// First value of a header, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Injected {
    scope: Endpoint,
    fault: Fault,
    remaining: u32,
}

/// State shared by every fake: address, request log, faults, URL lifetime.
#[derive(Debug)]
pub struct Core {
    addr: SocketAddr,
    log: Mutex<Vec<RecordedRequest>>,
    changed: watch::Sender<usize>,
    faults: Mutex<VecDeque<Injected>>,
    delay: Mutex<Duration>,
    url_ttl: Mutex<Duration>,
    flights: Flights,
}

/// Lock a mutex, recovering from poisoning (a panicking test thread must not wedge the fake).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Core {
    pub(crate) fn new(addr: SocketAddr, url_ttl: Duration) -> Self {
        Core {
            addr,
            log: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
            faults: Mutex::new(VecDeque::new()),
            delay: Mutex::new(Duration::ZERO),
            url_ttl: Mutex::new(url_ttl),
            flights: Flights::default(),
        }
    }

    /// The socket address the fake listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.log).clone()
    }

    /// Requests of one kind, oldest first.
    pub fn requests_to(&self, endpoint: Endpoint) -> Vec<RecordedRequest> {
        lock(&self.log)
            .iter()
            .filter(|r| endpoint.matches(r.endpoint))
            .cloned()
            .collect()
    }

    /// Number of submit requests received (whatever the reply was).
    pub fn submit_count(&self) -> usize {
        self.count(|r| r.endpoint == Endpoint::Submit)
    }

    /// Number of poll requests received for this task id (whatever the reply was).
    pub fn poll_count(&self, task_id: &str) -> usize {
        self.count(|r| r.endpoint == Endpoint::Poll && r.task_id.as_deref() == Some(task_id))
    }

    /// Number of download requests received for this task id.
    pub fn download_count(&self, task_id: &str) -> usize {
        self.count(|r| r.endpoint == Endpoint::Download && r.task_id.as_deref() == Some(task_id))
    }

    fn count(&self, f: impl Fn(&RecordedRequest) -> bool) -> usize {
        lock(&self.log).iter().filter(|r| f(r)).count()
    }

    /// Each task this fake created with its time in flight (see [`Flights`]; the ModelScope
    /// fake records them).
    pub fn flights(&self) -> &Flights {
        &self.flights
    }

    /// The most tasks that were in flight at the same moment.
    pub fn max_in_flight(&self) -> usize {
        self.flights.max_where(|_| true)
    }

    /// Forget the request log (faults and tasks stay).
    pub fn clear_requests(&self) {
        lock(&self.log).clear();
    }

    /// Wait until `pred` holds for the request log, re-checking on every new request.
    /// Returns false if `timeout` passed first.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&[RecordedRequest]) -> bool,
    ) -> bool {
        self.wait_until(timeout, || pred(&lock(&self.log))).await
    }

    /// Wait until `cond` holds, re-checking whenever a request arrives or a fake's state
    /// changes (a task is created). Returns false if `timeout` passed first.
    pub(crate) async fn wait_until(&self, timeout: Duration, cond: impl Fn() -> bool) -> bool {
        // Subscribe before the first check so no change between check and wait is missed.
        let mut rx = self.changed.subscribe();
        let wait = async {
            loop {
                if cond() {
                    return;
                }
                if rx.changed().await.is_err() {
                    // The sender lives as long as self, so this does not happen.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }

    /// Wake waiters after a state change that is not a new request.
    pub(crate) fn notify(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Apply `fault` to the next `times` requests matching `scope`. Faults queue up in order.
    pub fn inject(&self, scope: Endpoint, fault: Fault, times: u32) {
        if times > 0 {
            lock(&self.faults).push_back(Injected {
                scope,
                fault,
                remaining: times,
            });
        }
    }

    /// Next `n` API requests (submit, poll, balance) get 429 with the provider's body and
    /// headers, plus `Retry-After` when given.
    pub fn rate_limit_next(&self, n: u32, retry_after: Option<u64>) {
        self.inject(Endpoint::Api, Fault::RateLimited { retry_after }, n);
    }

    /// Next `n` API requests get HTTP 500 with the provider's error envelope.
    pub fn server_error_next(&self, n: u32) {
        self.inject(Endpoint::Api, Fault::ServerError(500), n);
    }

    /// Next `n` API replies have their JSON body cut in half.
    pub fn malformed_next(&self, n: u32) {
        self.inject(Endpoint::Api, Fault::Malformed, n);
    }

    /// Next `n` output downloads announce the full length, send half and drop the connection.
    pub fn truncate_next_downloads(&self, n: u32) {
        self.inject(Endpoint::Download, Fault::Truncated, n);
    }

    /// Drop every pending fault.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
    }

    /// Delay every reply (API and downloads) by this much; zero turns it off.
    pub fn set_delay(&self, delay: Duration) {
        *lock(&self.delay) = delay;
    }

    /// How long output URLs stay valid after the task finished; after that they give 403.
    pub fn set_url_ttl(&self, ttl: Duration) {
        *lock(&self.url_ttl) = ttl;
    }

    pub(crate) fn url_ttl(&self) -> Duration {
        *lock(&self.url_ttl)
    }

    fn take_fault(&self, actual: Endpoint) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let idx = faults.iter().position(|f| f.scope.matches(actual))?;
        let entry = &mut faults[idx];
        let fault = entry.fault.clone();
        entry.remaining -= 1;
        if entry.remaining == 0 {
            faults.remove(idx);
        }
        Some(fault)
    }

    fn record(&self, req: RecordedRequest) {
        lock(&self.log).push(req);
        self.notify();
    }
}

/// What a provider fake tells the shared middleware.
pub(crate) trait Provider: Send + Sync + 'static {
    fn core(&self) -> &Core;
    /// Kind of request and the task id named in the path.
    fn classify(&self, method: &Method, path: &str) -> (Endpoint, Option<String>);
    /// The provider's 429 reply for a scripted rate-limit fault.
    fn rate_limited(&self, endpoint: Endpoint, retry_after: Option<u64>) -> Response;
    /// The provider's reply for a scripted server error with this status.
    fn server_error(&self, endpoint: Endpoint, status: StatusCode) -> Response;
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
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
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
        body_text,
        endpoint,
        task_id,
        at: SystemTime::now(),
    });

    let delay = *lock(&p.core().delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let fault = p.core().take_fault(endpoint);
    let request_headers = parts.headers.clone();
    let req = Request::from_parts(parts, Body::from(bytes));
    match fault {
        None => next.run(req).await,
        Some(Fault::Delay(d)) => {
            tokio::time::sleep(d).await;
            next.run(req).await
        }
        Some(Fault::RateLimited { retry_after }) => p.rate_limited(endpoint, retry_after),
        Some(Fault::ServerError(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            p.server_error(endpoint, status)
        }
        Some(Fault::Reply { status, body }) => json_reply(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &body,
        ),
        Some(Fault::AcceptThenError(code)) => {
            let _accepted = next.run(req).await;
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            p.server_error(endpoint, status)
        }
        Some(Fault::AcceptThenDrop) => {
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
        Some(Fault::AcceptThenLate(d)) => {
            let reply = next.run(req).await;
            tokio::time::sleep(d).await;
            reply
        }
        Some(Fault::EchoHeaders(code)) => {
            let headers: serde_json::Map<String, Value> = request_headers
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
        Some(Fault::HugeBody(size)) => huge_body(size),
        Some(Fault::Malformed) => {
            let (parts, body) = next.run(req).await.into_parts();
            let full = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let mut parts = parts;
            parts.headers.remove(header::CONTENT_LENGTH);
            Response::from_parts(parts, Body::from(full.slice(..full.len() / 2)))
        }
        Some(Fault::Truncated) => {
            let (mut parts, body) = next.run(req).await.into_parts();
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
    }
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

/// A fake's server task; dropping it stops accepting connections.
#[derive(Debug)]
pub(crate) struct ServerTask(JoinHandle<()>);

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serve `router` (wrapped in the recording/fault middleware) on an already bound listener.
pub(crate) fn serve<P: Provider>(
    listener: TcpListener,
    router: Router<Arc<P>>,
    p: Arc<P>,
) -> ServerTask {
    let app = router
        .layer(middleware::from_fn_with_state(p.clone(), observe::<P>))
        .with_state(p);
    ServerTask(tokio::spawn(async move {
        // The server only ends with the task being aborted; an accept error ends the fake.
        let _ = axum::serve(listener, app).await;
    }))
}

/// Bind a loopback listener; `port` 0 means ephemeral.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

/// The loopback address with an ephemeral port.
pub(crate) fn ephemeral() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A JSON reply with this status.
pub(crate) fn json_reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Add a header when the value is a valid header value.
pub(crate) fn set_header(headers: &mut HeaderMap, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// The OSS-style XML 403 an expired or tampered output URL gets.
pub(crate) fn oss_denied(code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n  <Code>{code}</Code>\n  <Message>{message}</Message>\n  <RequestId>{}</RequestId>\n  <HostId>fake-oss</HostId>\n</Error>\n",
        new_request_id()
    );
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "application/xml")],
        body,
    )
        .into_response()
}

/// A PNG reply.
pub(crate) fn png_reply(bytes: Bytes) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

/// A fresh request id as the providers print them (UUID).
pub(crate) fn new_request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Seconds since the Unix epoch of `t`.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A 64x64 PNG whose colours derive from `seed`, so every task and image index differs.
pub fn make_png(seed: &str) -> Bytes {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    let [r, g, b, r2, g2, b2, ..] = h.to_le_bytes();
    let img = image::RgbImage::from_fn(64, 64, |x, y| {
        if (x / 8 + y / 8) % 2 == 0 {
            image::Rgb([r, g, b])
        } else {
            image::Rgb([
                r2,
                g2.wrapping_add(x as u8 * 2),
                b2.wrapping_add(y as u8 * 2),
            ])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    // Encoding an in-memory RGB buffer to PNG cannot fail short of allocation failure.
    match img.write_to(&mut out, image::ImageFormat::Png) {
        Ok(()) => Bytes::from(out.into_inner()),
        Err(_) => Bytes::new(),
    }
}

/// Number of characters, as the providers count prompt length.
pub(crate) fn char_len(s: &str) -> usize {
    s.chars().count()
}
