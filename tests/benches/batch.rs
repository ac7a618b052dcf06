//! Batch figures: a 10,000-row JSON Lines file sent with `genq batch` to the real daemon
//! against the fake ModelScope (tasks finish after 20 ms, budget 1000 requests/s, 64 in
//! flight). Prints the time until the file was accepted (read, every row checked, the batch
//! created), the time to the first submit the provider saw, rows per second turned into
//! jobs, the time until every row ended, and the daemon's resident memory before and at its
//! peak during the batch.
//!
//! Run: `cargo bench -p genq-e2e --bench batch` (`GENQ_BENCH_ROWS` changes the row count).

use genq_e2e::fakes::{Endpoint, ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, genq_bin, stderr};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn genq(home: &Home, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = home.cmd(args);
    cmd.current_dir(dir);
    tokio::process::Command::from(cmd)
        .output()
        .await
        .expect("run genq")
}

async fn pending(home: &Home, dir: &std::path::Path) -> (u64, u64) {
    let out = genq(home, dir, &["batch", "ls", "--json"]).await;
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    let c = &list[0]["counts"];
    (
        c["pending"].as_u64().unwrap_or(u64::MAX),
        c["total"].as_u64().unwrap_or(0),
    )
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let _ = genq_bin();
    let rows: usize = std::env::var("GENQ_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(20)));
    ms.set_daily_limits(1_000_000, 1_000_000);
    let home = Home::with_modelscope(
        &ms,
        "max_concurrent = 64\nrequests_per_second = 1000\ntypical_s = 0.02\n",
    );
    let dir = home.dir.path().join("work");
    std::fs::create_dir_all(&dir).expect("work dir");
    let text: String = (1..=rows)
        .map(|i| format!("{{\"prompt\":\"bench scene {i}\",\"output\":\"out/{{row:05}}.png\"}}\n"))
        .collect();
    std::fs::write(dir.join("rows.jsonl"), &text).expect("write rows");
    home.ok(&["daemon", "start"]);
    let pid = home.daemon_pid().expect("daemon pid");
    let rss_before = rss_kib(pid);

    let peak = Arc::new(AtomicU64::new(rss_before));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };

    let started = Instant::now();
    let first_submit = {
        let ms = &ms;
        async move {
            ms.wait_for_request(Endpoint::Submit, Duration::from_secs(600))
                .await;
            started.elapsed()
        }
    };
    let send = genq(
        &home,
        &dir,
        &["batch", "rows.jsonl", "--provider", "modelscope"],
    );
    let (out, first) = tokio::join!(send, first_submit);
    assert!(out.status.success(), "{}", stderr(&out));
    let accepted = started.elapsed();
    let mut all_jobs = accepted;
    loop {
        let (left, total) = pending(&home, &dir).await;
        if left == 0 && total > 0 {
            all_jobs = all_jobs.max(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let out = genq(&home, &dir, &["batch", "wait", "1"]).await;
    let ended = started.elapsed();
    sampler.abort();
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());
    println!("batch of {rows} rows (JSON Lines), fake ModelScope, 64 in flight, 1000 req/s");
    println!(
        "  file accepted (read, checked, batch created): {}",
        secs(accepted)
    );
    println!("  time to first submit: {}", secs(first));
    println!(
        "  rows turned into jobs: {:.0} rows/s ({} for all)",
        rows as f64 / all_jobs.as_secs_f64(),
        secs(all_jobs)
    );
    println!(
        "  every row ended: {} ({}; {:.0} rows/s end to end)",
        secs(ended),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or(""),
        rows as f64 / ended.as_secs_f64()
    );
    println!(
        "  daemon RSS: {} MiB before, {} MiB peak during the batch",
        rss_before / 1024,
        peak.load(Ordering::Relaxed) / 1024
    );
}
