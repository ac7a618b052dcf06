//! The engine's queue against a real store and config: queued jobs wait in the database,
//! not as runners.

use super::Engine;
use crate::config::Config;
use crate::providers::Registry;
use crate::store::Store;
use genq_protocol::{JobSpec, JobState, Paths};
use std::time::Duration;

/// An engine whose one provider never answers and runs one task at a time.
async fn engine_with_one_slot(dir: &std::path::Path) -> (Engine, crate::store::StoreThread) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let home = dir.to_path_buf();
    let paths = Paths::resolve_in(|k| (k == "GENQ_HOME").then(|| home.clone()), 1000, dir);
    std::fs::write(
        &paths.config,
        "[providers.dashscope]\nbase_url = \"http://127.0.0.1:9\"\napi_key_env = \"DS_KEY\"\n\
         max_concurrent = 1\n",
    )
    .unwrap();
    let registry = Registry::builtin();
    let config = Config::load_with_env(&paths.config, &paths.credentials, &registry, &|k| {
        (k == "DS_KEY").then(|| "sk-test".to_string())
    })
    .unwrap();
    let (store, thread) = Store::open(&paths.db).unwrap();
    (Engine::new(store, registry, config, paths), thread)
}

fn spec(i: usize) -> JobSpec {
    JobSpec {
        provider: "dashscope".into(),
        prompt: format!("a lighthouse {i}"),
        ..Default::default()
    }
}

#[tokio::test]
async fn queued_jobs_wait_in_the_database_not_as_runners() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, thread) = engine_with_one_slot(dir.path()).await;
    for i in 0..30 {
        let job = engine.submit(spec(i), None, None).await.unwrap();
        assert_eq!(job.state, JobState::Queued);
    }
    // One task slot: at most one job has a runner, whatever is queued behind it.
    let runners = engine.inner.running.lock().unwrap().len();
    assert!(runners <= 1, "{runners} runners for one slot");
    let queued = engine.queued_per_provider().await.unwrap();
    assert!(
        queued.get("dashscope").copied().unwrap_or(0) >= 29,
        "{queued:?}"
    );
    engine.shutdown(Duration::from_secs(1)).await;
    drop((engine, thread));
}
