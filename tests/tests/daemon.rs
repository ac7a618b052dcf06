//! The daemon as users and scripts meet it: started on demand, one per home, private
//! socket, jobs and events that survive clients leaving, stops and crashes, and a wire
//! protocol that answers bad input with errors instead of falling over.

use genq_e2e::fakes::{Endpoint, Fault, ModelScopeFake, MsOutcome, MsScript};
use genq_e2e::harness::{Home, PATIENCE, RawClient, stderr};
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_command_starts_the_daemon_with_a_private_socket() {
    let home = Home::new();
    assert!(home.daemon_pid().is_none());
    let jobs = home.json_async(&["jobs", "--json"]).await;
    assert_eq!(jobs, json!([]));
    assert!(
        home.daemon_pid().is_some(),
        "no daemon after a client command"
    );
    assert_eq!(mode(&home.paths.socket), 0o600, "socket mode");
    assert_eq!(
        mode(home.paths.socket_dir()),
        0o700,
        "socket directory mode"
    );

    let status = home.json_async(&["daemon", "status", "--json"]).await;
    for key in [
        "pid", "version", "protocol", "socket", "db", "uptime_s", "jobs",
    ] {
        assert!(status.get(key).is_some(), "status lacks {key}: {status}");
    }
    assert_eq!(status["pid"].as_i64(), home.daemon_pid().map(i64::from));
    assert_eq!(status["jobs"]["queued"], 0);
    assert_eq!(status["socket"], home.paths.socket.display().to_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_autostart_is_respected() {
    let home = Home::new();
    let out = home.run_async(&["--no-autostart", "jobs"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not running"), "{}", stderr(&out));
    let out = tokio::process::Command::from({
        let mut c = home.cmd(&["jobs"]);
        c.env("GENQ_NO_AUTOSTART", "1");
        c
    })
    .output()
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(home.daemon_pid().is_none(), "a daemon was started anyway");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_refuses_and_names_the_first() {
    let home = Home::new();
    home.start_daemon();
    let pid = home.daemon_pid().expect("daemon running");
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success(), "second daemon started");
    assert!(stderr(&out).contains(&pid.to_string()), "{}", stderr(&out));
    // The first one is untouched.
    assert_eq!(home.daemon_pid(), Some(pid));
    let mut c = home.client().await;
    c.ok("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_socket_is_reclaimed_after_a_crash() {
    let home = Home::new();
    home.start_daemon();
    home.kill9();
    assert!(
        home.paths.socket.exists(),
        "a crash leaves the socket file behind"
    );
    home.start_daemon();
    let mut c = home.client().await;
    c.ok("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_is_graceful_and_status_does_not_start_a_daemon() {
    let home = Home::new();
    let out = home.run_async(&["daemon", "status"]).await;
    assert!(!out.status.success());
    assert!(home.daemon_pid().is_none(), "status started a daemon");
    home.start_daemon();
    let pid = home.daemon_pid().unwrap();
    let out = home.run_async(&["daemon", "stop"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        !genq_e2e::harness::alive(pid),
        "daemon still running after stop returned"
    );
    assert!(home.log().contains("daemon stopped"), "{}", home.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_errors_and_the_daemon_keeps_serving() {
    let home = Home::new();
    home.start_daemon();
    let mut c = home.client().await;

    c.send_raw(b"this is not json\n").await;
    let r = c.read_line().await.unwrap();
    assert_eq!(r["error"]["code"], -32700);
    assert_eq!(r["error"]["data"]["kind"], "parse_error");

    c.send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"\xff\xfe\"}\n")
        .await;
    let r = c.read_line().await.unwrap();
    assert_eq!(r["error"]["code"], -32700);
    assert!(
        r["error"]["message"].as_str().unwrap().contains("UTF-8"),
        "{r}"
    );

    let deep = format!("{}{}\n", "[".repeat(50_000), "]".repeat(50_000));
    c.send_raw(deep.as_bytes()).await;
    let r = c.read_line().await.unwrap();
    assert_eq!(r["error"]["code"], -32700);

    c.send_raw(b"[1,2,3]\n").await;
    let r = c.read_line().await.unwrap();
    assert_eq!(r["error"]["code"], -32600);

    // The same connection still works after all that.
    c.ok("daemon.status", json!({})).await;

    // An oversized frame gets an error, then the connection is closed.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\",\"params\":{{\"x\":\"{}\"}}}}\n",
        "a".repeat(2 << 20)
    );
    c.send_raw_lossy(big.as_bytes()).await;
    let r = c.read_line().await.expect("an error reply before closing");
    assert_eq!(r["error"]["data"]["kind"], "frame_too_large");
    assert!(c.read_line().await.is_none(), "connection stayed open");

    // Other clients are served as before.
    let mut c2 = home.client().await;
    c2.ok("daemon.status", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_use_documented_codes_and_name_the_field() {
    let home = Home::new();
    home.start_daemon();
    let mut raw = RawClient::connect(&home.paths.socket).await;
    let r = raw.call("jobs.list", json!({})).await;
    assert_eq!(r["error"]["data"]["kind"], "hello_required");
    let r = raw
        .call("hello", json!({"protocol": 999, "client": "future"}))
        .await;
    assert_eq!(r["error"]["data"]["kind"], "version_mismatch");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("999") && msg.contains(&genq_protocol::PROTOCOL_VERSION.to_string()),
        "{msg}"
    );

    let mut c = home.client().await;
    let r = c.call("jobs.frobnicate", json!({})).await;
    assert_eq!(r["error"]["code"], -32601);
    assert_eq!(r["error"]["data"]["kind"], "method_not_found");

    let r = c.call("jobs.list", json!({"limit": "many"})).await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["data"]["field"], "limit");

    let r = c
        .call("submit", json!({"spec": {"provider": "modelscope", "prompt": "x", "loras": [{"repo": "a/b", "weight": "heavy"}]}}))
        .await;
    assert_eq!(r["error"]["code"], -32602);
    assert_eq!(r["error"]["data"]["field"], "spec.loras[0].weight");

    let r = c
        .call(
            "submit",
            json!({"spec": {"provider": "modelscope", "prompt": "x", "size": "4096x4096"}}),
        )
        .await;
    assert_eq!(r["error"]["data"]["kind"], "invalid_params");
    assert_eq!(r["error"]["data"]["field"], "spec.size");
    assert!(r["error"]["data"]["allowed"].is_string(), "{r}");

    let r = c.call("jobs.get", json!({"id": "0000dead"})).await;
    assert_eq!(r["error"]["data"]["kind"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_returns_the_same_job() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(100)));
    let home = Home::with_modelscope(&ms, "");
    let a = home
        .submit_job(
            "modelscope",
            &["--prompt", "a teapot", "--idempotency-key", "k-1"],
        )
        .await;
    let b = home
        .submit_job(
            "modelscope",
            &["--prompt", "another", "--idempotency-key", "k-1"],
        )
        .await;
    assert_eq!(a["id"], b["id"]);
    assert_eq!(b["params"]["prompt"], "a teapot");
    let all = home.json_async(&["jobs", "--json"]).await;
    assert_eq!(all.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_survives_its_client_a_stop_and_a_crash_without_being_resubmitted() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_secs(4)));
    let home = Home::with_modelscope(&ms, "");
    let id = home.submit("modelscope", "a lighthouse").await;
    // The client has exited; the job goes on. Wait until the provider has it.
    assert!(ms.wait_for_request(Endpoint::Poll, PATIENCE).await);
    let before = {
        let mut c = home.client().await;
        c.ok("jobs.events", json!({"id": id})).await
    };
    home.ok_async(&["daemon", "stop"]).await;
    home.start_daemon();
    let mut c = home.client().await;
    let after = c.ok("jobs.events", json!({"id": id})).await;
    assert_eq!(
        before.as_array().unwrap()[..],
        after.as_array().unwrap()[..before.as_array().unwrap().len()]
    );
    home.kill9();
    home.start_daemon();
    let mut c = home.subscribed().await;
    assert_eq!(c.wait_final(&id).await, "succeeded");
    assert_eq!(
        ms.submit_count(),
        1,
        "the job was submitted again after a restart"
    );
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let path = job["outputs"][0]["path"].as_str().expect("output path");
    assert!(std::path::Path::new(path).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_submission_fails_the_job_as_interrupted_and_never_resubmits() {
    let ms = ModelScopeFake::start().await;
    ms.inject(Endpoint::Submit, Fault::Delay(Duration::from_secs(30)), 1);
    let home = Home::with_modelscope(&ms, "");
    let id = home.submit("modelscope", "slow to accept").await;
    assert!(ms.wait_for_request(Endpoint::Submit, PATIENCE).await);
    home.kill9();
    home.start_daemon();
    let mut c = home.client().await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["error"]["kind"], "interrupted");
    assert_eq!(ms.submit_count(), 1);
    // One key retries it, as a new job pointing back.
    let new_id = home.ok_async(&["retry", &id[..12]]).await;
    let retry = c.ok("jobs.get", json!({"id": new_id.trim()})).await;
    assert_eq!(retry["retry_of"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_reconnects_gets_every_missed_event_exactly_once() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::outcome_after(
        Duration::from_millis(200),
        MsOutcome::ContentPolicy,
    ));
    let home = Home::with_modelscope(&ms, "");
    home.start_daemon();
    let mut c = home.client().await;
    let head = c.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .unwrap();
    let first_id = c.submit_prompt("modelscope", "one").await;
    let seen = c
        .events_until(|e| e["job_id"] == first_id.as_str() && e["to"] == "failed")
        .await;
    let last = seen
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .max()
        .unwrap_or(head);
    let delivered_before: Vec<u64> = Vec::new();
    drop(c);

    // While nobody listens, more happens.
    let mut other = home.client().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            other
                .submit_prompt("modelscope", &format!("missed {i}"))
                .await,
        );
    }
    other.ok("subscribe", json!({"since_seq": 0})).await;
    for id in &ids {
        other.wait_final(id).await;
    }
    let head_now = other.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .unwrap();
    drop(other);

    let mut c = home.client().await;
    c.ok("subscribe", json!({"since_seq": last})).await;
    let mut seqs = delivered_before;
    while seqs.last().copied().unwrap_or(last) < head_now {
        let n = c.notification().await;
        if n["method"] == "event" {
            seqs.push(n["params"]["seq"].as_u64().unwrap());
        }
    }
    let expected: Vec<u64> = {
        let mut raw = home.client().await;
        let mut all = Vec::new();
        for id in &ids {
            for e in raw
                .ok("jobs.events", json!({"id": id}))
                .await
                .as_array()
                .unwrap()
            {
                all.push(e["seq"].as_u64().unwrap());
            }
        }
        all.sort();
        all
    };
    assert_eq!(
        seqs, expected,
        "missed events not delivered exactly once, in order"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_from_a_newer_genq_is_refused_untouched() {
    let home = Home::new();
    future_schema::write(&home.paths.db);
    let before = std::fs::read(&home.paths.db).unwrap();
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("newer"), "{err}");
    assert_eq!(
        std::fs::read(&home.paths.db).unwrap(),
        before,
        "the database was modified"
    );
}

/// Writes a SQLite file with a future schema version, without linking SQLite into the tests:
/// the header's user_version field (offset 60) is all the daemon reads first.
mod future_schema {
    pub fn write(path: &std::path::Path) {
        let mut page = vec![0u8; 4096];
        page[..16].copy_from_slice(b"SQLite format 3\0");
        page[16..18].copy_from_slice(&4096u16.to_be_bytes()); // page size
        page[18] = 1; // write version
        page[19] = 1; // read version
        page[21] = 64;
        page[22] = 32;
        page[23] = 32;
        page[24..28].copy_from_slice(&1u32.to_be_bytes()); // change counter
        page[28..32].copy_from_slice(&1u32.to_be_bytes()); // pages in file
        page[44..48].copy_from_slice(&4u32.to_be_bytes()); // schema format
        page[56..60].copy_from_slice(&1u32.to_be_bytes()); // UTF-8
        page[60..64].copy_from_slice(&99u32.to_be_bytes()); // user_version
        page[92..96].copy_from_slice(&1u32.to_be_bytes());
        page[96..100].copy_from_slice(&3_045_000u32.to_be_bytes());
        // An empty table b-tree leaf page for sqlite_schema.
        page[100] = 0x0d;
        page[105..107].copy_from_slice(&4096u16.to_be_bytes());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, page).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_config_stops_the_daemon_with_the_key_named() {
    let home = Home::new();
    home.write_config("[providers.modelscope]\nmax_concurent = 2\n");
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success());
    assert!(stderr(&out).contains("max_concurent"), "{}", stderr(&out));

    home.write_config("[providers.modelscope]\nmax_concurrent = 0\n");
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("providers.modelscope.max_concurrent"),
        "{}",
        stderr(&out)
    );

    home.write_config("[providers.nosuch]\nbase_url = \"http://x\"\n");
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(
        stderr(&out).contains("nosuch") && stderr(&out).contains("modelscope"),
        "{}",
        stderr(&out)
    );

    // A key in a file others can read is refused, and the key is not repeated back.
    home.write_config("[providers.modelscope]\napi_key = \"ms-secret-value\"\n");
    genq_e2e::harness::set_mode(&home.paths.config, 0o644);
    let out = home.run_async(&["daemon", "run"]).await;
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("ms-secret-value"), "the key leaked: {err}");
    assert!(home.daemon_pid().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_stops_reading_gets_resync_and_never_slows_the_daemon() {
    let ms = ModelScopeFake::start().await;
    let mut home = Home::new();
    // The fake refuses this key, so every job fails at its first request. No request
    // budget in the way: the flood is limited by the daemon alone.
    home.env("GENQ_TEST_MS_KEY", "ms-not-the-right-key");
    home.write_config(&format!(
        "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_MS_KEY\"\n\
         requests_per_second = 10000\nmax_concurrent = 1000\n",
        ms.base_url()
    ));
    home.start_daemon();
    // Subscribes, then reads nothing while thousands of events happen.
    let mut idle = home.client().await;
    idle.ok("subscribe", json!({})).await;

    // Jobs with a refused key fail at once: each makes at least three events, over 10,800
    // in all, far more than the event bus keeps for a subscriber that does not read.
    let mut writers = Vec::new();
    for w in 0..4 {
        let mut c = home.client().await;
        writers.push(tokio::spawn(async move {
            for i in 0..900 {
                c.ok(
                    "submit",
                    json!({"spec": {"provider": "modelscope", "prompt": format!("flood {w}-{i}")}}),
                )
                .await;
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // Everyone else was served throughout; the daemon is still quick to answer.
    let mut other = home.client().await;
    let status = other.ok("daemon.status", json!({})).await;
    let total: u64 = status["jobs"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 3600);

    // The idle subscriber, once it reads again, is told to resync instead of stalling anyone.
    let mut last_event = 0;
    let resync = loop {
        let n = idle.notification().await;
        match n["method"].as_str() {
            Some("event") => last_event = n["params"]["seq"].as_u64().unwrap(),
            Some("resync") => break n,
            _ => {}
        }
    };
    assert_eq!(resync["params"]["last_seq"].as_u64(), Some(last_event));
    // It can catch up from there, missing nothing.
    let r = idle.ok("subscribe", json!({"since_seq": last_event})).await;
    assert!(r["head_seq"].as_u64().unwrap() > last_event);
}
