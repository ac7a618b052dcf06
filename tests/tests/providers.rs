//! Providers end to end, through the `genq` command line against the fake ModelScope and
//! DashScope servers: what is sent, what is refused before sending, how failures are
//! classified, rate limits, timeouts, crash recovery, config hot reload, `genq providers`,
//! and that no API key ever shows up where a user or a log could read it.

use genq_e2e::fakes::{
    DashScopeFake, DsScript, Endpoint, Fault, ModelScopeFake, MsOutcome, MsScript,
};
use genq_e2e::harness::{Home, PATIENCE, stderr, stdout};
use serde_json::{Value, json};
use std::process::Output;
use std::time::{Duration, Instant};

/// `genq submit --provider modelscope --wait --json ARGS…`: the final job and the output.
async fn submit_wait(home: &Home, provider: &str, args: &[&str]) -> (Value, Output) {
    let mut all = vec!["submit", "--provider", provider, "--wait", "--json"];
    all.extend_from_slice(args);
    let out = home.run_async(&all).await;
    let job = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "genq {all:?}: no job JSON ({e})\nstdout: {}\nstderr: {}\nlog:\n{}",
            stdout(&out),
            stderr(&out),
            home.log_tail()
        )
    });
    (job, out)
}

/// One provider's entry in a `providers.list` reply.
fn provider<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} in {list}"))
}

/// Waits (bounded) until `cond` holds for the value `probe` returns; for state that has no
/// event of its own (a config reload), checked again after short pauses.
async fn eventually<F, Fut>(what: &str, mut probe: F, cond: impl Fn(&Value) -> bool) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Value>,
{
    let start = Instant::now();
    loop {
        let v = probe().await;
        if cond(&v) {
            return v;
        }
        assert!(
            start.elapsed() < PATIENCE,
            "{what} never happened; last: {v}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modelscope_job_with_two_loras_sends_the_documented_requests() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    let home = Home::with_modelscope(&ms, "");
    let (job, out) = submit_wait(
        &home,
        "modelscope",
        &[
            "--prompt",
            "a red fox in snow",
            "--size",
            "1024x768",
            "--seed",
            "7",
            "--lora",
            "owner/style-a:0.6",
            "--lora",
            "owner/style-b:0.4",
        ],
    )
    .await;
    home.assert_success(&out);
    assert_eq!(job["state"], "succeeded", "{job}");
    let path = job["outputs"][0]["path"].as_str().expect("output path");
    let task = &ms.task_ids()[0];
    // The same image, pixel for pixel (the stored PNG also carries the job's parameters).
    let stored = image::load_from_memory(&std::fs::read(path).unwrap())
        .unwrap()
        .to_rgba8();
    let served = image::load_from_memory(&ms.output_png(task).unwrap())
        .unwrap()
        .to_rgba8();
    assert!(
        stored == served,
        "the stored output is not the fake's image"
    );
    // The request ids of the submit and of the poll that saw it finish stay on the job, and
    // the generation time (submit to success: ModelScope gives no creation time) with them.
    let calls: Vec<&str> = job["provider_requests"]
        .as_array()
        .unwrap_or_else(|| panic!("{job}"))
        .iter()
        .filter(|r| r["request_id"].as_str().is_some_and(|id| !id.is_empty()))
        .map(|r| r["call"].as_str().unwrap())
        .collect();
    assert_eq!(calls, ["submit", "poll"], "{job}");
    assert!(
        job["generation_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{job}"
    );

    let submits = ms.requests_to(Endpoint::Submit);
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!(s.path, "/v1/images/generations");
    assert_eq!(
        s.header("authorization"),
        Some(format!("Bearer {}", ms.key()).as_str())
    );
    assert_eq!(s.header("x-modelscope-async-mode"), Some("true"));
    let body = s.body.as_ref().expect("JSON body");
    assert_eq!(body["model"], "Qwen/Qwen-Image");
    assert_eq!(body["prompt"], "a red fox in snow");
    assert_eq!(body["size"], "1024x768");
    assert_eq!(body["seed"], 7);
    assert_eq!(
        body["loras"],
        json!({"owner/style-a": 0.6, "owner/style-b": 0.4})
    );

    let polls = ms.requests_to(Endpoint::Poll);
    assert!(!polls.is_empty());
    for p in &polls {
        assert_eq!(p.path, format!("/v1/tasks/{task}"));
        assert_eq!(p.header("x-modelscope-task-type"), Some("image_generation"));
        assert_eq!(
            p.header("authorization"),
            Some(format!("Bearer {}", ms.key()).as_str())
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashscope_job_asks_for_one_image_explicitly() {
    let ds = DashScopeFake::start().await;
    ds.set_script(DsScript::succeed_after(Duration::from_millis(300)));
    let home = Home::with_dashscope(&ds, "");
    let (job, out) = submit_wait(
        &home,
        "dashscope",
        &["--prompt", "a paper crane", "--size", "1024x1024"],
    )
    .await;
    home.assert_success(&out);
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 1, "{job}");

    let submits = ds.requests_to(Endpoint::Submit);
    assert_eq!(submits.len(), 1);
    let s = &submits[0];
    assert_eq!(
        s.header("authorization"),
        Some(format!("Bearer {}", ds.key()).as_str())
    );
    assert_eq!(s.header("x-dashscope-async"), Some("enable"));
    let body = s.body.as_ref().expect("JSON body");
    assert_eq!(body["model"], "wan2.2-t2i-flash");
    assert_eq!(body["input"]["prompt"], "a paper crane");
    assert_eq!(
        body["parameters"]["n"], 1,
        "n must be sent, the provider's default is 4"
    );
    assert_eq!(body["parameters"]["size"], "1024*1024");
    assert_eq!(ds.image_count(&ds.task_ids()[0]), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_jobs_are_refused_before_any_request() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(&ms, "");
    let seven: Vec<String> = (0..7).map(|i| format!("owner/l{i}:0.1")).collect();
    let mut seven_args = vec!["--prompt", "x"];
    for l in &seven {
        seven_args.extend(["--lora", l.as_str()]);
    }
    let cases: Vec<(&str, Vec<&str>, &str)> = vec![
        (
            "weights not summing to 1",
            vec![
                "--prompt",
                "x",
                "--lora",
                "owner/a:0.5",
                "--lora",
                "owner/b:0.3",
            ],
            "loras",
        ),
        ("seven LoRAs", seven_args, "loras"),
        (
            "size out of range",
            vec!["--prompt", "x", "--size", "4000x4000"],
            "size",
        ),
        ("empty prompt", vec!["--prompt", ""], "prompt"),
    ];
    for (what, args, field) in cases {
        let mut all = vec!["submit", "--provider", "modelscope", "--wait"];
        all.extend(args);
        let out = home.run_async(&all).await;
        assert_eq!(out.status.code(), Some(2), "{what}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.lines()
                .any(|l| l.trim_start().starts_with("field:") && l.contains(field)),
            "{what}: the error does not name {field}: {err}"
        );
        assert!(err.contains("allowed:"), "{what}: no allowed values: {err}");
    }
    assert!(
        ms.requests().is_empty(),
        "the fake got requests: {:?}",
        ms.requests()
    );
    let jobs = home.json_async(&["jobs", "--json"]).await;
    assert_eq!(jobs, json!([]), "a refused job was queued");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_fails_fast_with_kind_auth() {
    let ms = ModelScopeFake::start().await;
    let mut home = Home::with_modelscope(&ms, "");
    home.env("GENQ_TEST_MS_KEY", "ms-not-the-right-key");
    let started = Instant::now();
    let (job, out) = submit_wait(&home, "modelscope", &["--prompt", "a kite"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(job["state"], "failed");
    assert_eq!(job["error"]["kind"], "auth", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Authentication failed"),
        "the provider's message is lost: {job}"
    );
    assert_eq!(ms.submit_count(), 1, "an auth error was retried");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert!(!home.log().contains("ms-not-the-right-key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_burst_delays_jobs_but_does_not_fail_them() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    let home = Home::with_modelscope(&ms, "");
    // Two submits, then three polls refused with Retry-After: 1.
    ms.inject(
        Endpoint::Submit,
        Fault::RateLimited {
            retry_after: Some(1),
        },
        2,
    );
    ms.inject(
        Endpoint::Poll,
        Fault::RateLimited {
            retry_after: Some(1),
        },
        3,
    );
    let (a, b) = tokio::join!(
        submit_wait(&home, "modelscope", &["--prompt", "first"]),
        submit_wait(&home, "modelscope", &["--prompt", "second"]),
    );
    for (job, out) in [a, b] {
        assert!(
            out.status.success(),
            "{}\n{}",
            stderr(&out),
            home.log_tail()
        );
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    assert_eq!(ms.task_ids().len(), 2, "one task per job");
    assert_eq!(ms.submit_count(), 4, "two refused submits, two accepted");
    let mut c = home.client().await;
    let jobs = home.json_async(&["jobs", "--json"]).await;
    let mut notes = 0;
    for j in jobs.as_array().unwrap() {
        let evs = c.ok("jobs.events", json!({"id": j["id"]})).await;
        notes += evs
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == "note" && e.to_string().contains("Request limit exceeded"))
            .count();
    }
    assert!(notes >= 2, "the refused submits left no note");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_never_finishes_times_out() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(
        Duration::from_millis(200),
        MsOutcome::Never,
    ));
    let home = Home::with_modelscope(&ms, "timeout_s = 2\n");
    let (job, out) = submit_wait(&home, "modelscope", &["--prompt", "forever"]).await;
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(job["state"], "failed");
    assert_eq!(job["error"]["kind"], "timeout", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("timeout_s"),
        "the message does not say which setting: {job}"
    );
    assert!(ms.poll_count(&ms.task_ids()[0]) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_9_while_running_resumes_with_exactly_one_submit() {
    let ms = ModelScopeFake::start().await;
    // Still running at the first poll (about 15 s in), so the crash hits a running task.
    ms.set_script(MsScript::succeed_after(Duration::from_secs(20)));
    let home = Home::with_modelscope(&ms, "");
    let id = home.submit("modelscope", "a crash").await;
    // The task id is stored once the job polls.
    assert!(ms.wait_for_request(Endpoint::Poll, PATIENCE).await);
    home.kill9();
    let polls_before = ms.requests_to(Endpoint::Poll).len();
    home.start_daemon();
    let mut c = home.subscribed().await;
    assert_eq!(c.wait_final(&id).await, "succeeded", "{}", home.log_tail());
    assert_eq!(ms.submit_count(), 1, "the job was submitted again");
    assert!(ms.requests_to(Endpoint::Poll).len() > polls_before);
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["remote_id"], json!(ms.task_ids()[0]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_key_is_hot_reloaded_and_a_bad_edit_keeps_the_old_config() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    let mut home = Home::with_modelscope(&ms, "");
    let old_key = ms.key();
    let new_key = format!("ms-rotated-{}", std::process::id());
    home.env("GENQ_TEST_MS_KEY2", &new_key);
    let (job, _) = submit_wait(&home, "modelscope", &["--prompt", "before"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    let pid = home.daemon_pid().expect("daemon running");

    // Rotate: the provider accepts only the new key, the config names the other variable.
    ms.set_key(&new_key);
    home.write_config(&format!(
        "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_MS_KEY2\"\n",
        ms.base_url()
    ));
    eventually(
        "reload of the new key source",
        || async { home.client().await.ok("providers.list", json!({})).await },
        |v| provider(v, "modelscope")["key_source"] == "env GENQ_TEST_MS_KEY2",
    )
    .await;
    ms.clear_requests();
    let (job, _) = submit_wait(&home, "modelscope", &["--prompt", "after"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(home.daemon_pid(), Some(pid), "the daemon restarted");
    let auth = format!("Bearer {new_key}");
    let api = ms.requests_to(Endpoint::Api);
    assert!(!api.is_empty());
    assert!(api.iter().all(|r| r.header("authorization") == Some(&auth)));

    // An invalid edit is reported and the config in force stays.
    home.write_config("[providers.modelscope]\nbase_url = 42\n");
    let status = eventually(
        "config_error in daemon status",
        || home.json_async(&["daemon", "status", "--json"]),
        |s| s.get("config_error").is_some_and(|e| !e.is_null()),
    )
    .await;
    let error = status["config_error"].as_str().unwrap();
    assert!(error.contains("base_url"), "{error}");
    let (job, _) = submit_wait(&home, "modelscope", &["--prompt", "still works"]).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    for secret in [&old_key, &new_key] {
        assert!(!home.log().contains(secret.as_str()), "a key is in the log");
        assert!(!status.to_string().contains(secret.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_shows_key_source_load_and_balance_without_keys() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_secs(30)));
    ms.set_balance(120.0);
    let home = Home::with_modelscope(&ms, "");
    for prompt in ["one", "two"] {
        home.ok_async(&["submit", "--provider", "modelscope", "--prompt", prompt])
            .await;
    }
    // A job is in flight from the moment it holds a slot, and holds points at the provider
    // once the provider has its task.
    assert!(
        ms.wait_for_tasks(1, PATIENCE).await,
        "the provider never got the first task"
    );
    let list = eventually(
        "one job in flight and one queued",
        || home.json_async(&["providers", "--json"]),
        |v| {
            let p = provider(v, "modelscope");
            p["in_flight"] == 1 && p["queued"] == 1
        },
    )
    .await;
    let p = provider(&list, "modelscope");
    assert_eq!(p["base_url"], ms.base_url());
    assert_eq!(p["key_source"], "env GENQ_TEST_MS_KEY");
    assert_eq!(p["has_key"], true);
    assert_eq!(p["max_concurrent"], 1);
    // 120 points, 2 held by the running Qwen-Image task.
    assert_eq!(p["quota_remaining"], 118, "{p}");
    assert!(!ms.requests_to(Endpoint::Balance).is_empty());

    let table = home.ok_async(&["providers"]).await;
    let row = table
        .lines()
        .find(|l| l.starts_with("modelscope"))
        .unwrap_or_else(|| panic!("{table}"));
    for want in [
        ms.base_url().as_str(),
        "env GENQ_TEST_MS_KEY",
        "1/1",
        "118 points",
    ] {
        assert!(row.contains(want), "row lacks {want:?}: {row}");
    }
    assert!(!table.contains(&ms.key()) && !list.to_string().contains(&ms.key()));

    // A balance that cannot be had is an error in the list, not a hang.
    ms.inject(Endpoint::Balance, Fault::Delay(Duration::from_secs(30)), 1);
    let started = Instant::now();
    let list = home.json_async(&["providers", "--json"]).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    let p = provider(&list, "modelscope");
    assert!(
        p["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("quota")),
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_appear_in_no_log_record_reply_or_export() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    let ds = DashScopeFake::start().await;
    ds.set_script(DsScript::succeed_after(Duration::from_millis(200)));
    let home = Home::with_fakes(Some(&ms), Some(&ds), "");
    let keys = [ms.key(), ds.key()];

    let (ok_ms, _) = submit_wait(&home, "modelscope", &["--prompt", "a bell"]).await;
    let (ok_ds, _) = submit_wait(&home, "dashscope", &["--prompt", "a drum"]).await;
    assert_eq!(ok_ms["state"], "succeeded");
    assert_eq!(ok_ds["state"], "succeeded");
    // Failures carry provider messages: make some, with the real key still being sent.
    ms.inject(Endpoint::Submit, Fault::ServerError(400), 1);
    ds.set_key("sk-another");
    let (bad_ms, _) = submit_wait(&home, "modelscope", &["--prompt", "a gong"]).await;
    let (bad_ds, _) = submit_wait(&home, "dashscope", &["--prompt", "a horn"]).await;
    assert_eq!(bad_ms["state"], "failed");
    assert_eq!(bad_ds["error"]["kind"], "auth", "{bad_ds}");

    let mut seen = String::new();
    for args in [
        &["jobs", "--json"][..],
        &["providers", "--json"],
        &["providers"],
        &["daemon", "status", "--json"],
    ] {
        seen.push_str(&home.ok_async(args).await);
    }
    let mut c = home.client().await;
    for job in [&ok_ms, &ok_ds, &bad_ms, &bad_ds] {
        let id = job["id"].as_str().unwrap();
        seen.push_str(&job.to_string());
        seen.push_str(&home.ok_async(&["show", id, "--json"]).await);
        seen.push_str(&home.ok_async(&["show", id]).await);
        seen.push_str(&home.ok_async(&["export", id]).await);
        seen.push_str(&c.ok("jobs.events", json!({"id": id})).await.to_string());
    }
    seen.push_str(&home.log());
    // The job records themselves, as stored.
    let dir = home.paths.db.parent().unwrap().to_path_buf();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            seen.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    assert!(home.log().contains("genq"), "the log is empty");
    for key in &keys {
        assert!(!seen.contains(key.as_str()), "an API key leaked");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configured_typical_duration_places_the_first_poll_of_a_new_model() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    // Without history the first poll waits for most of ModelScope's typical 30 s (capped at
    // 15 s); a provider whose tasks are quick says so.
    let home = Home::with_modelscope(&ms, "typical_s = 1.0\n");
    let (job, out) = submit_wait(&home, "modelscope", &["--prompt", "a quick sketch"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(job["state"], "succeeded", "{job}");
    let submit = ms.requests_to(Endpoint::Submit)[0].at;
    let first_poll = ms.requests_to(Endpoint::Poll)[0].at;
    let wait = first_poll.duration_since(submit).unwrap();
    assert!(
        wait < Duration::from_secs(8),
        "the first poll came {wait:?} after the submit"
    );

    // A value outside the range stops the daemon naming the key.
    let bad = Home::with_modelscope(&ms, "typical_s = -3\n");
    let out = bad.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("providers.modelscope.typical_s"),
        "{}",
        stderr(&out)
    );
}
