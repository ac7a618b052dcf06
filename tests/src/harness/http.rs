//! The daemon's HTTP API in a test home: a free port, the `[http]` section, a token, a wait
//! until it answers, and the Python with the `openai` SDK for tests that use real clients.

use super::home::Home;
use super::process::PATIENCE;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A loopback port nothing listens on now.
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    l.local_addr().expect("local addr").port()
}

/// An `[http]` section listening on `port`, plus `extra` lines of it.
pub fn http_section(port: u16, extra: &str) -> String {
    format!("[http]\nlisten = \"127.0.0.1:{port}\"\n{extra}")
}

/// Whether `GET /healthz` on `port` answers 200.
async fn healthy(port: u16) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return false;
    };
    let req = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).await.is_err() {
        return false;
    }
    let mut reply = String::new();
    let _ = s.read_to_string(&mut reply).await;
    reply.starts_with("HTTP/1.1 200")
}

/// Waits until the API answers `/healthz` on `port`.
pub async fn wait_http(home: &Home, port: u16) {
    let start = Instant::now();
    loop {
        if healthy(port).await {
            return;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "the HTTP API never answered on port {port}:\n{}",
            home.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `genq token create NAME`: the token it prints.
pub async fn create_token(home: &Home, name: &str) -> String {
    home.ok_async(&["token", "create", name])
        .await
        .trim()
        .to_string()
}

/// The Python with `openai` and `openapi-spec-validator`: `GENQ_PYTHON`, else
/// `<workspace>/.venv-http/bin/python`. Without one the test says how to install it and is
/// skipped; under `CI` it fails instead.
pub fn python() -> Option<PathBuf> {
    let path = match std::env::var_os("GENQ_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-http/bin/python"),
    };
    if path.exists() {
        return Some(path);
    }
    let why = format!(
        "no Python with the openai SDK at {} (set GENQ_PYTHON, or run: python3 -m venv \
         .venv-http && .venv-http/bin/pip install openai openapi-spec-validator)",
        path.display()
    );
    assert!(std::env::var_os("CI").is_none(), "CI needs it: {why}");
    eprintln!("skipped: {why}");
    None
}
