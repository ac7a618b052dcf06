//! One genq daemon as the OpenAI-compatible provider of another, end to end: home A runs
//! the fake ModelScope behind its HTTP API; home B's instance `upstream` (`type = "openai"`)
//! points at A's address with A's token. B's jobs become ordinary jobs on A, B gets A's
//! bytes, B's catalog lists A's models, and A's refusals come back on B with their kinds.

use genq_e2e::fakes::{ModelScopeFake, MsScript};
use genq_e2e::harness::{
    Home, catalog_section, create_token, free_port, http_section, init_tls, wait_http,
};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::time::Duration;

/// The fake's tasks take milliseconds: poll them at once.
const FAST_POLLS: &str = "typical_s = 0.1\nrequests_per_second = 100\n";

/// Home A: the fake ModelScope and the HTTP API on a free port; its address and a token.
async fn upstream_home(ms: &ModelScopeFake) -> (Home, String, String) {
    let port = free_port();
    // LoRA listings go to a closed port: no test reaches the real sites.
    let offline = catalog_section("modelscope", "http://127.0.0.1:1");
    let home = Home::with_modelscope(
        ms,
        &format!("{FAST_POLLS}{}{offline}", http_section(port, "")),
    );
    home.start_daemon();
    wait_http(&home, port).await;
    let token = create_token(&home, "downstream").await;
    (home, format!("http://127.0.0.1:{port}"), token)
}

/// Home B: only the instance `upstream` at `base_url`, A's token as its key.
fn downstream_home(base_url: &str, token: &str) -> Home {
    init_tls();
    let mut home = Home::new();
    home.env("GENQ_TEST_UPSTREAM_KEY", token);
    home.write_config(&format!(
        "[providers.upstream]\ntype = \"openai\"\nbase_url = \"{base_url}\"\n\
         api_key_env = \"GENQ_TEST_UPSTREAM_KEY\"\nrequests_per_second = 1000\n"
    ));
    home
}

/// The SHA-256 of a job's first output without the `genq` text chunk each daemon writes
/// into its PNGs (B's replaces A's): every other byte is the image A made.
fn image_sha(job: &Value) -> String {
    let path = job["outputs"][0]["path"]
        .as_str()
        .unwrap_or_else(|| panic!("no output: {job}"));
    let png = std::fs::read(path).expect("the output on disk");
    let mut kept = png[..8].to_vec();
    let mut at = 8;
    while at + 12 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 12 + len;
        let chunk = &png[at..end];
        if !(&chunk[4..8] == b"tEXt" && chunk[8..].starts_with(b"genq\0")) {
            kept.extend_from_slice(chunk);
        }
        at = end;
    }
    assert_eq!(at, png.len(), "{path} is a whole PNG");
    Sha256::digest(&kept)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

async fn run_job(home: &Home, args: &[&str]) -> Value {
    let job = home.submit_job("upstream", args).await;
    let id = job["id"].as_str().expect("a job id").to_string();
    home.finished(&id).await
}

/// A's job whose prompt is `prompt`.
async fn job_on(home: &Home, prompt: &str) -> Value {
    let jobs = home.json_async(&["jobs", "--json"]).await;
    jobs.as_array()
        .into_iter()
        .flatten()
        .find(|j| j["params"]["prompt"] == prompt)
        .cloned()
        .unwrap_or_else(|| panic!("no job for {prompt:?} on the upstream daemon: {jobs}"))
}

/// Waits until B's catalog lists `id` under `upstream` (B's daemon lists A's models when it
/// starts).
async fn upstream_lists(home: &Home, id: &str) {
    let start = std::time::Instant::now();
    loop {
        let models = home.json_async(&["models", "--json"]).await;
        let listed = models
            .as_array()
            .into_iter()
            .flatten()
            .any(|m| m["supplier"] == "upstream" && m["id"] == id);
        if listed {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "B's catalog never listed {id}: {models}\n{}",
            home.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genq_daemon_serves_another_as_its_openai_compatible_provider() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(50)));
    let (a, base, token) = upstream_home(&ms).await;
    // As the OpenAI SDKs take it: the base URL ends in `/v1`.
    let b = downstream_home(&format!("{base}/v1"), &token);

    // B's catalog holds A's image models, as A names them (`provider/model`), once B's
    // daemon has listed them from A's `/v1/models`.
    upstream_lists(&b, "modelscope/Qwen/Qwen-Image").await;
    // Only models A could run: A has a key for ModelScope alone.
    let models = b.json_async(&["models", "--json"]).await;
    let upstream: Vec<&str> = models
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["supplier"] == "upstream")
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert!(
        upstream.iter().all(|id| id.starts_with("modelscope/")),
        "{upstream:?}"
    );

    // Without --model, B's default is one of the models A listed.
    let plain = "a plain default";
    let job = run_job(&b, &["--prompt", plain]).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", b.log_tail());
    let model = job["model"].as_str().unwrap_or_default();
    assert!(upstream.contains(&model), "{model} not among {upstream:?}");
    assert_eq!(job_on(&a, plain).await["provider"], "modelscope");

    // A job on B runs as an ordinary job on A; B stores the image A made.
    let prompt = "a paper lantern over the river";
    let job = run_job(
        &b,
        &["--model", "modelscope/Qwen/Qwen-Image", "--prompt", prompt],
    )
    .await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", b.log_tail());
    assert_eq!(job["model"], "modelscope/Qwen/Qwen-Image", "{job}");
    let theirs = job_on(&a, prompt).await;
    assert_eq!(theirs["state"], "succeeded", "{theirs}");
    assert_eq!(theirs["provider"], "modelscope", "{theirs}");
    assert_eq!(theirs["model"], "Qwen/Qwen-Image", "{theirs}");
    assert_eq!(image_sha(&job), image_sha(&theirs));
    assert!(!b.log().contains(&token), "the token stays out of B's log");

    // `genq submit --wait` on B, picking another of A's models.
    let out = b
        .ok_async(&[
            "submit",
            "--provider",
            "upstream",
            "--model",
            "modelscope/Tongyi-MAI/Z-Image-Turbo",
            "--prompt",
            "a lantern, waited for",
            "--wait",
        ])
        .await;
    let theirs = job_on(&a, "a lantern, waited for").await;
    assert_eq!(theirs["state"], "succeeded", "{out}");
    assert_eq!(theirs["model"], "Tongyi-MAI/Z-Image-Turbo", "{theirs}");

    // A's refusals come back on B with their kinds, naming the field or the model.
    let job = run_job(
        &b,
        &[
            "--model",
            "modelscope/Qwen/Qwen-Image",
            "--prompt",
            "too big",
            "--size",
            "64x99999",
        ],
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    assert_eq!(job["error"]["kind"], "invalid_params", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("size:"), "{job}");

    // A model B's catalog lists but A no longer offers: A's refusal names it.
    a.ok_async(&["models", "rm", "modelscope:Qwen/Qwen-Image-2512"])
        .await;
    let job = run_job(
        &b,
        &[
            "--model",
            "modelscope/Qwen/Qwen-Image-2512",
            "--prompt",
            "gone",
        ],
    )
    .await;
    assert_eq!(job["state"], "failed", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert_eq!(job["error"]["kind"], "invalid_params", "{job}");
    assert!(message.starts_with("model:"), "{job}");
    assert!(message.contains("Qwen/Qwen-Image-2512"), "{job}");
}
