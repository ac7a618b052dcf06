//! Foundation figures, printed, not asserted: protocol round trip p50/p99, submits per
//! second into the durable store from one client, and `jobs.list` of one page with
//! 100,000 jobs in the database.
//!
//! `cargo bench -p genq-e2e --bench foundation`

use genq_e2e::harness::{Home, RawClient, genq_bin};
use serde_json::json;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn fmt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

async fn timed(
    c: &mut RawClient,
    method: &str,
    params: serde_json::Value,
    n: usize,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = c.call(method, params.clone()).await;
        times.push(t.elapsed());
        assert!(r.get("result").is_some(), "{method}: {r}");
    }
    times.sort();
    times
}

#[tokio::main]
async fn main() {
    let _ = genq_bin();
    let home = Home::new();
    // Jobs go to a provider that answers nothing and may run one task at a time, so the
    // figures measure the daemon, not a provider.
    home.write_config(
        "[providers.modelscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n",
    );
    home.start_daemon_with(&[("BENCH_KEY", "ms-bench")]);
    let mut c = home.client().await;

    let rt = timed(&mut c, "daemon.status", json!({}), 2000).await;
    println!(
        "protocol round trip (daemon.status, 2000 calls): p50 {}  p99 {}",
        fmt(percentile(&rt, 0.5)),
        fmt(percentile(&rt, 0.99))
    );

    let n = 2000;
    let t = Instant::now();
    for i in 0..n {
        let r = c
            .call(
                "submit",
                json!({"spec": {"provider": "modelscope", "prompt": format!("bench {i}")}}),
            )
            .await;
        assert!(r.get("result").is_some(), "{r}");
    }
    let el = t.elapsed();
    println!(
        "submits into the durable store, one client: {n} in {:.2} s = {:.0}/s",
        el.as_secs_f64(),
        n as f64 / el.as_secs_f64()
    );

    c.ok("daemon.shutdown", json!({})).await;
    drop(c);
    while home.daemon_pid().is_some() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // 100,000 jobs, imported in one transaction through the store.
    let (store, thread) = genq_daemon::store::Store::open(&home.paths.db).expect("open db");
    let jobs: Vec<_> = (0..100_000u32)
        .map(|i| genq_daemon::store::NewJob {
            id: genq_protocol::JobId(uuid::Uuid::now_v7().to_string()),
            kind: genq_protocol::JobKind::Image,
            spec: genq_protocol::JobSpec {
                provider: "dashscope".into(),
                model: Some("wan2.2-t2i-flash".into()),
                prompt: format!(
                    "job number {i}: a lighthouse at dusk, oil painting, {}",
                    if i % 100 == 0 { "teapot" } else { "sea" }
                ),
                ..Default::default()
            },
            idempotency_key: None,
            retry_of: None,
        })
        .collect();
    let t = Instant::now();
    store.create_jobs(jobs).await.expect("import");
    println!(
        "imported 100,000 jobs in {:.2} s",
        t.elapsed().as_secs_f64()
    );
    drop(store);
    thread.join();

    // The imported jobs are queued; cancel nothing, just keep their provider busy elsewhere.
    home.write_config(
        "[providers.dashscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n\
         [providers.modelscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n",
    );
    let t = Instant::now();
    home.start_daemon_with(&[("BENCH_KEY", "ms-bench")]);
    println!(
        "daemon start with 102,000 jobs (100,000 to resume): {:.2} s",
        t.elapsed().as_secs_f64()
    );
    let mut c = home.client().await;
    let first = timed(&mut c, "jobs.list", json!({"limit": 50}), 200).await;
    println!(
        "jobs.list newest page of 50 (102,000 jobs): p50 {}  p99 {}",
        fmt(percentile(&first, 0.5)),
        fmt(percentile(&first, 0.99))
    );
    let page = c.ok("jobs.list", json!({"limit": 50})).await;
    let cursor = page["next_cursor"].clone();
    let deep = timed(
        &mut c,
        "jobs.list",
        json!({"limit": 50, "cursor": cursor}),
        200,
    )
    .await;
    println!(
        "jobs.list next page by cursor: p50 {}  p99 {}",
        fmt(percentile(&deep, 0.5)),
        fmt(percentile(&deep, 0.99))
    );
    let search = timed(
        &mut c,
        "jobs.list",
        json!({"limit": 50, "text": "teapot"}),
        50,
    )
    .await;
    println!(
        "jobs.list with text search: p50 {}  p99 {}",
        fmt(percentile(&search, 0.5)),
        fmt(percentile(&search, 0.99))
    );
    let state = timed(
        &mut c,
        "jobs.list",
        json!({"limit": 50, "state": ["failed"]}),
        200,
    )
    .await;
    println!(
        "jobs.list filtered by state: p50 {}  p99 {}",
        fmt(percentile(&state, 0.5)),
        fmt(percentile(&state, 0.99))
    );
    c.ok("daemon.shutdown", json!({})).await;
}
