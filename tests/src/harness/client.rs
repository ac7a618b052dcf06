//! A raw protocol client on the daemon's socket, for tests of the wire itself and for
//! following jobs through their events.

use std::path::Path;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::process::PATIENCE;

/// A protocol client that speaks raw lines, for tests of the wire itself.
pub struct RawClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    next_id: u64,
    /// Notifications read while waiting for a response.
    pub notifications: std::collections::VecDeque<Value>,
}

impl RawClient {
    pub async fn connect(socket: &Path) -> RawClient {
        let stream = UnixStream::connect(socket)
            .await
            .expect("connect to the daemon socket");
        let (r, w) = stream.into_split();
        RawClient {
            reader: BufReader::new(r),
            writer: w,
            next_id: 1,
            notifications: Default::default(),
        }
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.expect("write to socket");
        self.writer.flush().await.expect("flush socket");
    }

    /// Writes what it can: the daemon may close the connection part way through (an
    /// oversized frame), which is what some tests provoke.
    pub async fn send_raw_lossy(&mut self, bytes: &[u8]) {
        if self.writer.write_all(bytes).await.is_ok() {
            let _ = self.writer.flush().await;
        }
    }

    /// Reads one line; `None` when the daemon closed the connection.
    pub async fn read_line(&mut self) -> Option<Value> {
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, self.reader.read_line(&mut line))
            .await
            .expect("daemon answered in time")
            .ok()?;
        if n == 0 {
            return None;
        }
        Some(
            serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("bad line from daemon ({e}): {line}")),
        )
    }

    /// Sends a request and returns its response (the whole JSON-RPC object), keeping any
    /// notifications that arrive first.
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        let line =
            json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.send_raw(format!("{line}\n").as_bytes()).await;
        loop {
            let msg = self
                .read_line()
                .await
                .expect("connection closed before the response");
            if msg.get("id") == Some(&json!(id)) {
                return msg;
            }
            self.notifications.push_back(msg);
        }
    }

    /// Like [`call`](Self::call) but returns `result`, panicking on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let resp = self.call(method, params).await;
        resp.get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method} failed: {resp}"))
    }

    /// Sends `submit` with these params; returns the new job's id.
    pub async fn submit(&mut self, params: Value) -> String {
        let job = self.ok("submit", params).await;
        job["id"].as_str().expect("job id").to_string()
    }

    /// Submits a job with just a provider and a prompt; returns its id.
    pub async fn submit_prompt(&mut self, provider: &str, prompt: &str) -> String {
        self.submit(json!({"spec": {"provider": provider, "prompt": prompt}}))
            .await
    }

    /// The next notification (already buffered or read from the socket).
    pub async fn notification(&mut self) -> Value {
        if let Some(n) = self.notifications.pop_front() {
            return n;
        }
        self.read_line()
            .await
            .expect("connection closed while waiting for a notification")
    }

    /// Reads `event` notifications until `pred` holds for one, returning all seen.
    pub async fn events_until(&mut self, mut pred: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let mut seen = Vec::new();
        loop {
            let n = self.notification().await;
            if n["method"] == "event" {
                let ev = n["params"].clone();
                let done = pred(&ev);
                seen.push(ev);
                if done {
                    return seen;
                }
            }
        }
    }

    /// Waits until job `id` reaches a final state, via events; returns that state.
    /// `id` is anything `jobs.get` takes: the job's number, its id or the start of it.
    pub async fn wait_final(&mut self, id: &str) -> String {
        let job = self.ok("jobs.get", json!({"id": id})).await;
        let state = job["state"].as_str().unwrap_or_default().to_string();
        if ["succeeded", "failed", "canceled"].contains(&state.as_str()) {
            return state;
        }
        let id = job["id"].clone();
        let evs = self
            .events_until(|e| {
                e["job_id"] == id
                    && e["type"] == "state"
                    && ["succeeded", "failed", "canceled"].contains(&e["to"].as_str().unwrap_or(""))
            })
            .await;
        evs.last()
            .and_then(|e| e["to"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}
