//! The control API every fake shares, so a test sets up and inspects any fake the same way:
//! the keys it accepts, the request log and its counters, scripted faults, a global delay, the
//! lifetime of output URLs, the tasks it created and their time in flight, and the scripts its
//! tasks follow.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::Value;
use tokio::sync::watch;

use super::common::lock;
use super::flights::Flights;

/// Which kind of request a fault (or a recorded request) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Task creation (`POST …/generations`, `POST …/image-synthesis`); a catalog listing.
    Submit,
    /// Task status query (`GET …/tasks/{id}`); a catalog item's detail.
    Poll,
    /// Account balance (ModelScope and Tripo).
    Balance,
    /// Output file (or catalog cover) download served by the fake.
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

/// The control every fake shares: address, keys, request log, faults, delay, URL lifetime,
/// created tasks. Each fake dereferences to it.
#[derive(Debug)]
pub struct Core {
    addr: SocketAddr,
    keys: Mutex<Vec<String>>,
    log: Mutex<Vec<RecordedRequest>>,
    changed: watch::Sender<usize>,
    faults: Mutex<VecDeque<Injected>>,
    delay: Mutex<Duration>,
    url_ttl: Mutex<Duration>,
    files_host: Mutex<Option<String>>,
    tasks: Mutex<Vec<String>>,
    flights: Flights,
}

impl Core {
    /// A fake's control on `addr`, accepting no key yet.
    pub(crate) fn new(addr: SocketAddr, url_ttl: Duration) -> Self {
        Core {
            addr,
            keys: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            changed: watch::channel(0).0,
            faults: Mutex::new(VecDeque::new()),
            delay: Mutex::new(Duration::ZERO),
            url_ttl: Mutex::new(url_ttl),
            files_host: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
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

    /// Where output links point, no trailing slash: the API's own address unless
    /// [`set_files_host`](Self::set_files_host) named another host.
    pub fn files_base_url(&self) -> String {
        match lock(&self.files_host).as_deref() {
            Some(host) => format!("http://{host}:{}", self.addr.port()),
            None => self.base_url(),
        }
    }

    /// Output links name `host` (`localhost`, say) instead of the API's address: the same
    /// server under another origin, as providers keep outputs on object storage or a CDN
    /// apart from their API.
    pub fn set_files_host(&self, host: impl Into<String>) {
        *lock(&self.files_host) = Some(host.into());
    }

    /// The key the fake accepts (the first, when it accepts several); empty for a fake that
    /// checks no key.
    pub fn key(&self) -> String {
        lock(&self.keys).first().cloned().unwrap_or_default()
    }

    /// Accept only this key from now on; requests with any other key get the provider's 401.
    pub fn set_key(&self, key: impl Into<String>) {
        *lock(&self.keys) = vec![key.into()];
    }

    /// Accept this key as well as the others.
    pub(crate) fn accept_key(&self, key: impl Into<String>) {
        lock(&self.keys).push(key.into());
    }

    /// Whether `key` is one the fake accepts.
    pub(crate) fn accepts(&self, key: &str) -> bool {
        lock(&self.keys).iter().any(|k| k == key)
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

    /// Ids of the tasks the fake created, oldest first.
    pub fn task_ids(&self) -> Vec<String> {
        lock(&self.tasks).clone()
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

    /// Wait until a request of this kind has arrived; false on timeout.
    pub async fn wait_for_request(&self, endpoint: Endpoint, timeout: Duration) -> bool {
        self.wait_for(timeout, |reqs| {
            reqs.iter().any(|r| endpoint.matches(r.endpoint))
        })
        .await
    }

    /// Wait until `n` tasks have been created; false on timeout.
    pub async fn wait_for_tasks(&self, n: usize, timeout: Duration) -> bool {
        self.wait_until(timeout, || lock(&self.tasks).len() >= n)
            .await
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

    /// Records a task the fake has just created (after its state holds it) and wakes waiters.
    pub(crate) fn task_created(&self, task_id: &str) {
        lock(&self.tasks).push(task_id.to_string());
        self.notify();
    }

    /// Wake waiters after a state change that is not a new request.
    fn notify(&self) {
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

    pub(crate) fn delay(&self) -> Duration {
        *lock(&self.delay)
    }

    /// How long output URLs stay valid after the task finished; after that they give 403.
    pub fn set_url_ttl(&self, ttl: Duration) {
        *lock(&self.url_ttl) = ttl;
    }

    pub(crate) fn url_ttl(&self) -> Duration {
        *lock(&self.url_ttl)
    }

    /// The next fault scripted for a request of kind `actual`, if any.
    pub(crate) fn take_fault(&self, actual: Endpoint) -> Option<Fault> {
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

    pub(crate) fn record(&self, req: RecordedRequest) {
        lock(&self.log).push(req);
        self.notify();
    }
}

/// The life of a fake's task, from its submit to its end.
pub trait Script: Clone + Send + 'static {
    /// A task that succeeds after `duration`.
    fn succeed_after(duration: Duration) -> Self;
}

/// The scripts a fake's tasks follow: one for every task, and queued ones for the next
/// submits, used in order.
#[derive(Debug)]
pub struct Scripts<S>(Mutex<(S, VecDeque<S>)>);

impl<S: Script> Scripts<S> {
    pub(crate) fn new(default: S) -> Self {
        Scripts(Mutex::new((default, VecDeque::new())))
    }

    pub(crate) fn set_default(&self, script: S) {
        lock(&self.0).0 = script;
    }

    pub(crate) fn push_next(&self, script: S) {
        lock(&self.0).1.push_back(script);
    }

    /// The script of the task being created now.
    pub(crate) fn next(&self) -> S {
        let mut scripts = lock(&self.0);
        match scripts.1.pop_front() {
            Some(s) => s,
            None => scripts.0.clone(),
        }
    }
}
