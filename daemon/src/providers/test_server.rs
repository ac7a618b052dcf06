//! A loopback HTTP double for adaptor unit tests: records every request it receives and
//! answers each with the next scripted reply. (The faithful fake providers live in `tests/`.)

use crate::providers::adaptor::CallContext;
use crate::secret::Secret;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A scripted reply.
#[derive(Clone, Debug)]
pub struct Canned {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Canned {
    /// A JSON reply (the body is sent as written, so it can also be deliberately broken).
    pub fn json(status: u16, body: &str) -> Self {
        Canned {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

#[derive(Default)]
struct Script {
    replies: VecDeque<Canned>,
    seen: Vec<Recorded>,
}

/// The running server; stops when dropped.
pub struct TestServer {
    pub base_url: String,
    script: Arc<Mutex<Script>>,
    task: tokio::task::JoinHandle<()>,
}

impl TestServer {
    pub async fn start(replies: Vec<Canned>) -> Self {
        let script = Arc::new(Mutex::new(Script {
            replies: replies.into(),
            seen: Vec::new(),
        }));
        let app = Router::new().fallback(answer).with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        TestServer {
            base_url: format!("http://{addr}"),
            script,
            task,
        }
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Recorded> {
        self.script.lock().unwrap().seen.clone()
    }

    /// The single request received, asserting there was exactly one.
    pub fn only_request(&self) -> Recorded {
        let seen = self.requests();
        assert_eq!(seen.len(), 1, "expected one request, got {seen:?}");
        seen.into_iter().next().unwrap()
    }

    pub fn ctx(&self, key: Option<&str>) -> CallContext {
        let _ = rustls::crypto::ring::default_provider().install_default();
        CallContext {
            http: reqwest::Client::new(),
            base_url: self.base_url.clone(),
            key: key.map(Secret::new),
            spool: std::env::temp_dir(),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    State(script): State<Arc<Mutex<Script>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let next = {
        let mut s = script.lock().unwrap();
        s.seen.push(Recorded {
            method,
            path: uri
                .path_and_query()
                .map_or_else(|| uri.path().to_string(), |p| p.to_string()),
            headers,
            body,
        });
        s.replies.pop_front()
    };
    let Some(canned) = next else {
        return (StatusCode::IM_A_TEAPOT, "no scripted reply left").into_response();
    };
    let mut response = (StatusCode::from_u16(canned.status).unwrap(), canned.body).into_response();
    for (k, v) in canned.headers {
        response.headers_mut().insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(&v).unwrap(),
        );
    }
    response
}
