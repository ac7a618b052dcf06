//! Load: a hundred subscribed clients while hundreds of short jobs run many at a time. Every
//! client sees every committed event exactly once and in `seq` order (a client told to
//! `resync` subscribes again from its last `seq` and must then miss nothing), and a client
//! that never reads its socket holds nobody up. Run with `--nocapture` to see the figures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE, RawClient};
use serde_json::json;
use tokio::sync::Notify;

const JOBS: usize = 300;
const MAX_CONCURRENT: usize = 25;

/// What one subscriber received.
#[derive(Debug, Default)]
struct Seen {
    seqs: Vec<u64>,
    resyncs: usize,
}

/// Reads events forever, re-subscribing from its last `seq` whenever told to resync.
async fn subscriber(mut c: RawClient, seen: Arc<Mutex<Seen>>, progress: Arc<Notify>) {
    c.ok("subscribe", json!({"since_seq": 0})).await;
    let mut last = 0;
    loop {
        let n = c.notification().await;
        match n["method"].as_str() {
            Some("event") => {
                let seq = n["params"]["seq"].as_u64().expect("event seq");
                last = last.max(seq);
                lock(&seen).seqs.push(seq);
                progress.notify_waiters();
            }
            Some("resync") => {
                lock(&seen).resyncs += 1;
                c.ok("subscribe", json!({"since_seq": last})).await;
            }
            _ => {}
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Job counts by state from `daemon.status`: (final, succeeded).
async fn finished(c: &mut RawClient) -> (u64, u64) {
    let status = c.ok("daemon.status", json!({})).await;
    let count = |s: &str| status["jobs"][s].as_u64().unwrap_or(0);
    (
        count("succeeded") + count("failed") + count("canceled"),
        count("succeeded"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_subscribers_see_every_event_once_while_300_jobs_run() {
    let started = Instant::now();
    let clients: usize = std::env::var("GENQ_LOAD_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    ms.set_daily_limits(100_000, 100_000);
    let home = Home::with_modelscope(
        &ms,
        &format!(
            "max_concurrent = {MAX_CONCURRENT}\nrequests_per_second = 10000\ntypical_s = 0.1\n"
        ),
    );
    home.start_daemon();

    // Subscribes, then never reads its socket again.
    let mut idle = home.client().await;
    idle.ok("subscribe", json!({})).await;

    let progress = Arc::new(Notify::new());
    let mut seen = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let s = Arc::new(Mutex::new(Seen::default()));
        let c = home.client().await;
        tasks.push(tokio::spawn(subscriber(c, s.clone(), progress.clone())));
        seen.push(s);
    }

    let mut c = home.client().await;
    let mut ids = Vec::new();
    for i in 0..JOBS {
        let job = c
            .ok(
                "submit",
                json!({"spec": {"provider": "modelscope", "prompt": format!("load {i}")}}),
            )
            .await;
        ids.push(job["id"].as_str().expect("job id").to_string());
    }

    // Until every job is final: the subscribers' events say when to look again; a quiet
    // second looks anyway, so an event lost on the way cannot stall the test.
    let deadline = Instant::now() + PATIENCE * 3;
    let (done, succeeded) = loop {
        let (done, succeeded) = finished(&mut c).await;
        if done as usize >= JOBS {
            break (done, succeeded);
        }
        assert!(
            Instant::now() < deadline,
            "only {done} of {JOBS} jobs final; log:\n{}",
            home.log_tail()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), progress.notified()).await;
    };
    let head = c.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .expect("head_seq");

    // Every reading client gets to the head; one that stops advancing for a while has
    // missed the tail.
    loop {
        let behind = seen
            .iter()
            .filter(|s| lock(s).seqs.iter().max().copied().unwrap_or(0) < head)
            .count();
        if behind == 0 {
            break;
        }
        let advanced = tokio::time::timeout(Duration::from_secs(10), progress.notified()).await;
        if advanced.is_err() {
            println!("{behind} clients stopped short of head seq {head}");
            break;
        }
    }
    for t in &tasks {
        t.abort();
    }

    let mut expected = Vec::new();
    for id in &ids {
        for e in c
            .ok("jobs.events", json!({"id": id}))
            .await
            .as_array()
            .expect("events")
        {
            expected.push(e["seq"].as_u64().expect("seq"));
        }
    }
    expected.sort_unstable();

    let (mut missed, mut duplicates, mut out_of_order, mut resyncs, mut delivered) =
        (0, 0, 0, 0, 0);
    let mut worst = String::new();
    for (n, s) in seen.iter().enumerate() {
        let s = lock(s);
        resyncs += s.resyncs;
        delivered += s.seqs.len();
        let mut counts: HashMap<u64, usize> = HashMap::new();
        for seq in &s.seqs {
            *counts.entry(*seq).or_default() += 1;
        }
        let m = expected.iter().filter(|q| !counts.contains_key(q)).count();
        let d: usize = counts.values().map(|k| k - 1).sum();
        let o = s.seqs.windows(2).filter(|w| w[1] <= w[0]).count();
        if (m > 0 || d > 0 || o > 0) && worst.is_empty() {
            let gaps: Vec<u64> = expected
                .iter()
                .filter(|q| !counts.contains_key(q))
                .take(10)
                .copied()
                .collect();
            worst = format!(
                "client {n}: missed {m} (first {gaps:?}), duplicates {d}, out of order {o}"
            );
        }
        missed += m;
        duplicates += d;
        out_of_order += o;
    }
    println!(
        "load figures: clients {clients} (+1 that never reads), jobs {JOBS} ({succeeded} \
         succeeded, {done} final), max_concurrent {MAX_CONCURRENT}, events {} (head seq \
         {head}), delivered {delivered}, missed {missed}, duplicates {duplicates}, out of \
         order {out_of_order}, resyncs {resyncs}, elapsed {:?}",
        expected.len(),
        started.elapsed()
    );
    drop(idle);
    assert_eq!(done as usize, JOBS, "every job ended");
    assert!(
        missed == 0 && duplicates == 0 && out_of_order == 0,
        "subscribers did not see every event exactly once in order: missed {missed}, \
         duplicates {duplicates}, out of order {out_of_order} over {clients} clients; {worst}"
    );
}
