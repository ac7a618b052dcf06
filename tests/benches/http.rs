//! HTTP API figures, printed, not asserted: submit rate and latency through `POST /v1/jobs`
//! against the socket's `submit` on the same daemon; 100 event-stream clients while 300
//! jobs progress (every client must see every event); the memory the HTTP server adds to
//! an idle daemon.
//!
//! `cargo bench -p genq-e2e --bench http`

use futures::StreamExt;
use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{
    Home, create_token, free_port, genq_bin, http_section, init_tls, wait_http,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const SUBMITS: usize = 1000;
const SSE_CLIENTS: usize = 100;
const SSE_JOBS: usize = 300;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn report(what: &str, mut times: Vec<Duration>, total: Duration) {
    times.sort();
    println!(
        "{what:<28} {:>8.0}/s   p50 {}   p99 {}",
        times.len() as f64 / total.as_secs_f64(),
        ms(percentile(&times, 0.5)),
        ms(percentile(&times, 0.99))
    );
}

fn rss_kib(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn start(home: &Home) {
    home.start_daemon_with(&[("BENCH_KEY", "ms-bench")]);
}

/// A home whose jobs go to a provider that answers nothing, one task at a time, so the
/// figures measure the daemon.
fn idle_provider_home(http: Option<u16>) -> Home {
    let home = Home::new();
    let mut config = "[providers.modelscope]\nbase_url = \"http://127.0.0.1:9\"\n\
                      api_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n"
        .to_string();
    if let Some(port) = http {
        config.push_str(&http_section(port, ""));
    }
    home.write_config(&config);
    start(&home);
    home
}

async fn submits(home: &Home, port: u16) {
    let token = create_token(home, "bench").await;
    let mut socket = home.client().await;
    let http = reqwest::Client::new();
    let url = format!("http://127.0.0.1:{port}/v1/jobs");
    let spec = json!({"provider": "modelscope", "prompt": "a bench teapot"});
    for round in 0..2 {
        let mut times = Vec::with_capacity(SUBMITS);
        let t0 = Instant::now();
        for _ in 0..SUBMITS {
            let t = Instant::now();
            socket.submit(json!({"spec": spec})).await;
            times.push(t.elapsed());
        }
        let socket_total = t0.elapsed();
        let mut http_times = Vec::with_capacity(SUBMITS);
        let t0 = Instant::now();
        for _ in 0..SUBMITS {
            let t = Instant::now();
            let r = http
                .post(&url)
                .bearer_auth(&token)
                .json(&spec)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 202);
            let _ = r.bytes().await;
            http_times.push(t.elapsed());
        }
        let http_total = t0.elapsed();
        if round == 1 {
            println!("submit, one client, {SUBMITS} each, same daemon:");
            report("  socket submit", times, socket_total);
            report("  HTTP POST /v1/jobs", http_times, http_total);
        }
    }
}

/// One event-stream client, connected before the load: the seqs it received, read live,
/// until it has seen the last seq once that is known.
async fn sse_client(
    url: String,
    token: String,
    since: u64,
    mut end: tokio::sync::watch::Receiver<u64>,
    connected: tokio::sync::mpsc::Sender<()>,
) -> BTreeSet<u64> {
    let resp = reqwest::Client::new()
        .get(format!("{url}?since={since}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let _ = connected.send(()).await;
    let mut stream = resp.bytes_stream();
    let mut buf = String::new();
    let mut seen = BTreeSet::new();
    loop {
        let last = *end.borrow();
        if seen.last().is_some_and(|s| *s >= last) {
            return seen;
        }
        tokio::select! {
            chunk = stream.next() => {
                let Some(Ok(chunk)) = chunk else { return seen };
                buf.push_str(&String::from_utf8_lossy(&chunk));
                while let Some(at) = buf.find("\n\n") {
                    let frame: String = buf.drain(..at + 2).collect();
                    if frame.contains("event: resync") {
                        return seen;
                    }
                    if let Some(id) = frame.lines().find_map(|l| l.strip_prefix("id:")) {
                        seen.insert(id.trim().parse::<u64>().unwrap());
                    }
                }
            }
            changed = end.changed() => if changed.is_err() { return seen },
        }
    }
}

async fn sse_under_load() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    ms.set_daily_limits(1_000_000, 1_000_000);
    let port = free_port();
    let mut home = Home::new();
    home.use_fakes(
        Some(&ms),
        None,
        &format!(
            "typical_s = 0.2\nmax_concurrent = 100\nrequests_per_second = 1000\n{}",
            http_section(port, "")
        ),
    );
    start(&home);
    wait_http(&home, port).await;
    let token = create_token(&home, "sse").await;
    let mut c = home.client().await;
    let head = c.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/v1/events");
    let (end_tx, end_rx) = tokio::sync::watch::channel(u64::MAX);
    let (connected_tx, mut connected_rx) = tokio::sync::mpsc::channel(SSE_CLIENTS);
    let clients: Vec<_> = (0..SSE_CLIENTS)
        .map(|_| {
            tokio::spawn(sse_client(
                url.clone(),
                token.clone(),
                head,
                end_rx.clone(),
                connected_tx.clone(),
            ))
        })
        .collect();
    for _ in 0..SSE_CLIENTS {
        connected_rx.recv().await;
    }
    let t0 = Instant::now();
    let mut ids = Vec::new();
    for i in 0..SSE_JOBS {
        ids.push(c.submit_prompt("modelscope", &format!("sse job {i}")).await);
    }
    for id in &ids {
        c.wait_final(id).await;
    }
    let elapsed = t0.elapsed();
    let end = home.client().await.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .unwrap();
    let _ = end_tx.send(end);
    let mut missed = 0usize;
    for client in clients {
        let seen = client.await.unwrap();
        missed += (head + 1..=end).filter(|s| !seen.contains(s)).count();
    }
    println!(
        "SSE: {SSE_CLIENTS} live clients while {SSE_JOBS} jobs ran ({:.1} s), {} events \
         each; events missed: {missed}",
        elapsed.as_secs_f64(),
        end - head
    );
    home.ok(&["daemon", "stop"]);
}

#[tokio::main]
async fn main() {
    let _ = genq_bin();
    init_tls();
    // Idle memory: the same daemon without and with the HTTP API (after one request).
    let plain = idle_provider_home(None);
    let port = free_port();
    let served = idle_provider_home(Some(port));
    wait_http(&served, port).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (a, b) = (
        rss_kib(plain.daemon_pid().unwrap()),
        rss_kib(served.daemon_pid().unwrap()),
    );
    println!(
        "idle RSS: without HTTP {a} KiB, with HTTP {b} KiB, added {} KiB",
        b as i64 - a as i64
    );
    plain.ok(&["daemon", "stop"]);
    submits(&served, port).await;
    served.ok(&["daemon", "stop"]);
    sse_under_load().await;
}
