//! Scale figures, printed, not asserted: submits acknowledged (each durable) per second from
//! one client and from 8 at once; the daemon's `jobs.list` of 500 rows and of a page of 50,
//! timed in the daemon's own code and over the socket; the daemon's memory idle, with 10,000
//! and with 100,000 queued jobs, and with 1,000 jobs in flight at a fake DashScope (resident,
//! split into anonymous and file-backed pages and the binary's share); how soon a daemon with
//! 100,000 unfinished jobs answers.
//!
//! `cargo bench -p genq-e2e --bench scale`

use genq_daemon::store::{NewJob, Store};
use genq_e2e::fakes::{DashScopeFake, DsScript};
use genq_e2e::harness::{Home, RawClient, genq_bin};
use genq_protocol::methods::ListParams;
use genq_protocol::{JobId, JobKind, JobSpec};
use serde_json::json;
use std::time::{Duration, Instant};

const CLIENTS: usize = 8;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// A `123 kB` value of a /proc file, in MB.
fn kb_as_mb(value: &str) -> f64 {
    value
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

/// The `key:` field of a /proc file, in MB.
fn field_mb(text: &str, key: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map_or(0.0, kb_as_mb)
}

/// Where the daemon's resident memory is: all of it (VmRSS), the anonymous part (heap,
/// stacks, relocated data) and the file-backed part (from smaps_rollup), and how much of the
/// latter is the daemon's own binary (its mappings in smaps).
fn resident(pid: i32) -> String {
    let read =
        |file: &str| std::fs::read_to_string(format!("/proc/{pid}/{file}")).unwrap_or_default();
    let total = field_mb(&read("status"), "VmRSS");
    let rollup = read("smaps_rollup");
    let anon = field_mb(&rollup, "Anonymous");
    let file = field_mb(&rollup, "Rss") - anon;
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap_or_default();
    let exe = exe.to_string_lossy();
    let exe = exe.trim_end_matches(" (deleted)");
    let mut binary = 0.0;
    let mut in_binary = false;
    for line in read("smaps").lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some(rss) = line.strip_prefix("Rss:") {
            if in_binary {
                binary += kb_as_mb(rss);
            }
        } else if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: `start-end perms offset dev inode path`.
            in_binary = line.split_whitespace().nth(5) == Some(exe);
        }
    }
    format!(
        "{total:.1} MB (anonymous {anon:.1} MB, file-backed {file:.1} MB of which the binary {binary:.1} MB)"
    )
}

fn threads(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count())
}

/// The daemon's memory once it has settled (the allocator gives back what it freed lazily).
async fn settled_rss(home: &Home, what: &str) {
    tokio::time::sleep(Duration::from_secs(2)).await;
    let pid = home.daemon_pid().expect("daemon runs");
    println!(
        "daemon RSS {what}: {} ({} threads)",
        resident(pid),
        threads(pid)
    );
}

/// A provider that answers nothing, one task at a time: submitted jobs stay queued and the
/// figures measure the daemon.
const CONFIG: &str = "[providers.dashscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n";

fn start(home: &Home) {
    home.start_daemon_with(&[("BENCH_KEY", "sk-bench"), ("GENQ_LOG", "info")]);
}

async fn stop(home: &Home) {
    home.client().await.ok("daemon.shutdown", json!({})).await;
    while home.daemon_pid().is_some() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn submit(c: &mut RawClient, i: usize) {
    let r = c
        .call(
            "submit",
            json!({"spec": {"provider": "dashscope", "prompt": format!("bench {i}")}}),
        )
        .await;
    assert!(r.get("result").is_some(), "{r}");
}

/// `n` submits from each of `clients` connections at once; submits per second.
async fn submits(home: &Home, clients: usize, n: usize) -> f64 {
    let mut conns = Vec::new();
    for _ in 0..clients {
        conns.push(home.client().await);
    }
    let t = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(k, mut c)| {
            tokio::spawn(async move {
                for i in 0..n {
                    submit(&mut c, k * n + i).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("client");
    }
    (clients * n) as f64 / t.elapsed().as_secs_f64()
}

/// `jobs.list` as the daemon answers it: the store's page, then its JSON text, written
/// straight from the type as the daemon writes it.
async fn list_in_process(store: &Store, limit: u32, rounds: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let page = store
            .list_jobs(ListParams {
                limit: Some(limit),
                ..ListParams::default()
            })
            .await
            .expect("list");
        let line = serde_json::to_string(&page).expect("reply");
        times.push(t.elapsed());
        assert!(line.len() > 100);
    }
    times.sort();
    percentile(&times, 0.5)
}

async fn list_over_socket(c: &mut RawClient, limit: u32, rounds: usize) -> Duration {
    let mut times = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let r = c.call("jobs.list", json!({"limit": limit})).await;
        times.push(t.elapsed());
        assert!(r.get("result").is_some(), "{r}");
    }
    times.sort();
    percentile(&times, 0.5)
}

async fn import(home: &Home, count: u32) {
    let (store, thread) = Store::open(&home.paths.db).expect("open db");
    let jobs: Vec<_> = (0..count)
        .map(|i| NewJob {
            id: JobId(uuid::Uuid::now_v7().to_string()),
            kind: JobKind::Image,
            spec: JobSpec {
                provider: "dashscope".into(),
                model: Some("wan2.2-t2i-flash".into()),
                prompt: format!("job number {i}: a lighthouse at dusk, oil painting, sea"),
                ..Default::default()
            },
            idempotency_key: None,
            retry_of: None,
        })
        .collect();
    store.create_jobs(jobs).await.expect("import");
    drop(store);
    thread.join();
}

#[tokio::main]
async fn main() {
    let _ = genq_bin();
    let home = Home::new();
    home.write_config(CONFIG);
    start(&home);
    settled_rss(&home, "idle").await;

    let one = submits(&home, 1, 2000).await;
    println!("submits acknowledged durable, 1 client: 2000 at {one:.0}/s");
    let many = submits(&home, CLIENTS, 1000).await;
    println!(
        "submits acknowledged durable, {CLIENTS} clients: {} at {many:.0}/s",
        CLIENTS * 1000
    );
    settled_rss(&home, "with 10,000 queued jobs").await;

    let (store, thread) = Store::open(&home.paths.db).expect("open db");
    let mut c = home.client().await;
    for limit in [500, 50] {
        let daemon = list_in_process(&store, limit, 200).await;
        let socket = list_over_socket(&mut c, limit, 200).await;
        println!(
            "jobs.list of {limit} rows (10,000 jobs): in the daemon's code p50 {}, over the socket (parsed) p50 {}",
            ms(daemon),
            ms(socket)
        );
    }
    drop(store);
    thread.join();
    drop(c);

    stop(&home).await;
    import(&home, 90_000).await;
    let t = Instant::now();
    start(&home);
    let mut c = home.client().await;
    c.ok("daemon.status", json!({})).await;
    println!(
        "start with 100,000 unfinished jobs until the first answer: {:.3} s",
        t.elapsed().as_secs_f64()
    );
    drop(c);
    settled_rss(&home, "with 100,000 queued jobs").await;
    stop(&home).await;

    in_flight(1000).await;
}

/// `n` jobs at once at a fake DashScope whose tasks run for ten minutes.
async fn in_flight(n: usize) {
    let ds = DashScopeFake::start().await;
    ds.set_script(DsScript::succeed_after(Duration::from_secs(600)));
    // The account's own limits (2 at once by default) lifted: genq's are what is measured.
    ds.set_throttle(None, None);
    let home = Home::with_dashscope(
        &ds,
        &format!("max_concurrent = {n}\nrequests_per_second = 1000\n"),
    );
    let out = home
        .cmd(&["daemon", "start"])
        .env("GENQ_LOG", "info")
        .output()
        .expect("start the daemon");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = home.client().await;
    for i in 0..n {
        submit(&mut c, i).await;
    }
    assert!(
        ds.wait_for_tasks(n, Duration::from_secs(120)).await,
        "the fake did not get {n} tasks"
    );
    settled_rss(
        &home,
        &format!("with {n} jobs in flight at a fake provider"),
    )
    .await;
    stop(&home).await;
}
