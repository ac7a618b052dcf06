//! Outputs as users meet them: downloaded and verified the moment a job succeeds, kept
//! under `outputs/YYYY/MM/<job-id>/` with `params.json` and the parameters inside PNGs,
//! copied to storage targets, never lost to a failed upload, and resumed after a crash.

use genq_e2e::fakes::{Endpoint, Fault, ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, PATIENCE};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

async fn submit_and_wait(home: &Home, prompt: &str) -> Value {
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", prompt).await;
    c.wait_final(&id).await;
    c.ok("jobs.get", json!({"id": id})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_job_keeps_verified_outputs_with_their_parameters_and_stores_a_copy() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let archive = tempfile::tempdir().unwrap();
    let home = Home::with_modelscope(
        &ms,
        &format!(
            "[storage.archive]\ntype = \"dir\"\npath = \"{}\"\n[defaults]\nstorage = [\"archive\"]\n",
            archive.path().display()
        ),
    );
    home.start_daemon();
    let job = submit_and_wait(&home, "a red teapot").await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let out = &job["outputs"][0];
    let path = Path::new(out["path"].as_str().unwrap());
    assert!(path.starts_with(&home.paths.outputs), "{}", path.display());
    assert!(path.to_string_lossy().contains(job["id"].as_str().unwrap()));
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    assert_eq!(out["size"].as_u64(), Some(bytes.len() as u64));
    assert_eq!(out["width"], 64);
    assert_eq!(out["mime"], "image/png");
    // The file alone traces back to its job.
    let embedded = genq_daemon::outputs::read_png_params(path)
        .unwrap()
        .expect("tEXt parameters");
    assert!(embedded.contains("a red teapot"), "{embedded}");
    let params: Value = serde_json::from_str(
        &std::fs::read_to_string(path.parent().unwrap().join("params.json")).unwrap(),
    )
    .unwrap();
    assert!(params.to_string().contains("a red teapot"));
    assert!(
        !params.to_string().contains(&ms.key()),
        "params.json holds the key"
    );
    // The copy in the storage target.
    let up = &out["uploads"][0];
    assert_eq!(up["target"], "archive");
    let url = up["url"].as_str().expect("upload url");
    let copy = url.strip_prefix("file://").expect("file url");
    assert_eq!(std::fs::read(copy).unwrap(), bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_upload_keeps_the_outputs_and_can_be_run_again() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let base = tempfile::tempdir().unwrap();
    // A file where the target directory should be: every upload there fails.
    let blocker = base.path().join("blocker");
    std::fs::write(&blocker, b"in the way").unwrap();
    let target = blocker.join("archive");
    let home = Home::with_modelscope(
        &ms,
        &format!(
            "[storage.archive]\ntype = \"dir\"\npath = \"{}\"\n",
            target.display()
        ),
    );
    home.start_daemon();
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c
        .submit(json!({"spec": {"provider": "modelscope", "prompt": "kept", "store": ["archive"]}}))
        .await;
    assert_eq!(c.wait_final(&id).await, "succeeded");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let out = &job["outputs"][0];
    assert!(
        Path::new(out["path"].as_str().unwrap()).is_file(),
        "local output lost"
    );
    assert_eq!(out["uploads"][0]["target"], "archive");
    assert!(out["uploads"][0]["url"].is_null());
    assert!(
        out["uploads"][0]["error"]
            .as_str()
            .unwrap()
            .contains("archive"),
        "{out}"
    );

    // Clear the way, then run the upload again.
    std::fs::remove_file(&blocker).unwrap();
    let printed = home.ok_async(&["upload", &id[..10]]).await;
    assert!(printed.contains("archive"), "{printed}");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let url = job["outputs"][0]["uploads"][0]["url"]
        .as_str()
        .expect("uploaded now");
    assert!(Path::new(url.strip_prefix("file://").unwrap()).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_output_link_fails_the_download_clearly() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    ms.set_url_ttl(Duration::ZERO);
    let home = Home::with_modelscope(&ms, "");
    home.start_daemon();
    let job = submit_and_wait(&home, "gone too soon").await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["error"]["kind"], "download");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(msg.contains("403") || msg.contains("expired"), "{msg}");
    // Nothing half-written is left under a final name.
    let dir = home.paths.outputs.clone();
    let files: Vec<_> = walk(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_mid_download_resumes_after_restart_without_resubmitting() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    ms.inject(Endpoint::Download, Fault::Delay(Duration::from_secs(30)), 1);
    let home = Home::with_modelscope(&ms, "");
    home.start_daemon();
    let mut c = home.client().await;
    let id = c.submit_prompt("modelscope", "interrupted").await;
    assert!(ms.wait_for_request(Endpoint::Download, PATIENCE).await);
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "fetching");
    drop(c);
    home.kill9();
    home.start_daemon();
    let mut c = home.subscribed().await;
    assert_eq!(c.wait_final(&id).await, "succeeded");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert!(Path::new(job["outputs"][0]["path"].as_str().unwrap()).is_file());
    assert_eq!(ms.submit_count(), 1, "resubmitted after the crash");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                found.extend(walk(&p));
            } else {
                found.push(p);
            }
        }
    }
    found
}
