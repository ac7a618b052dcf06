//! What benches (and tests that need thousands of jobs) share: a home whose daemon holds many
//! jobs, imported straight into its database instead of submitted one by one.

use genq_e2e::harness::Home;
use genq_protocol::{JobId, JobKind, JobSpec};
use std::time::Duration;

/// A home whose daemon holds `count` jobs, imported with it stopped; `finish_sql` marks
/// them finished and `start` starts it again on top of them.
pub async fn home_with_finished_jobs(
    count: u32,
    finish_sql: &'static str,
    start: fn(&Home),
) -> Home {
    home_with_imported_jobs(
        count,
        |i| format!("job number {i}: a lighthouse at dusk, oil painting, sea"),
        finish_sql,
        start,
    )
    .await
}

/// A home with a DashScope that answers nothing, one task at a time (the daemon stays quiet),
/// holding `count` jobs with prompts from `prompt`. The daemon lays out its home and database
/// first; the jobs are imported with it stopped, in one transaction, `finish_sql` changes them
/// as another program would, and `start` starts the daemon again on top of them.
pub async fn home_with_imported_jobs(
    count: u32,
    prompt: fn(u32) -> String,
    finish_sql: &'static str,
    start: fn(&Home),
) -> Home {
    let home = Home::new();
    home.write_config(
        "[providers.dashscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"BENCH_KEY\"\nmax_concurrent = 1\n",
    );
    start(&home);
    home.client()
        .await
        .ok("daemon.shutdown", serde_json::json!({}))
        .await;
    while home.daemon_pid().is_some() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (store, thread) = genq_daemon::store::Store::open(&home.paths.db).expect("open db");
    let jobs: Vec<_> = (0..count)
        .map(|i| genq_daemon::store::NewJob {
            id: JobId(uuid::Uuid::now_v7().to_string()),
            kind: JobKind::Image,
            spec: JobSpec {
                provider: "dashscope".into(),
                model: Some("wan2.2-t2i-flash".into()),
                prompt: prompt(i),
                ..Default::default()
            },
            idempotency_key: None,
            retry_of: None,
        })
        .collect();
    store.create_jobs(jobs).await.expect("import");
    store
        .call(move |conn| {
            conn.execute(finish_sql, ())?;
            Ok(())
        })
        .await
        .expect("change the imported jobs");
    drop(store);
    thread.join();
    start(&home);
    home
}
