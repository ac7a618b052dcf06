//! The promises genq keeps under load, stops and crashes: every committed event reaches every
//! subscriber once and in order; a job that sent nothing is never failed by a stop; the
//! provider never has more tasks in flight than `max_concurrent`; a runner never leaves a job
//! hanging; polling learns how long tasks really take; local disk trouble only delays a job.

use genq_e2e::fakes::{Endpoint, Fault, ModelScopeFake, MsScript};
use genq_e2e::harness::{Home, RawClient};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

const FINAL: [&str; 3] = ["succeeded", "failed", "canceled"];

fn is_final(state: &Value) -> bool {
    FINAL.contains(&state.as_str().unwrap_or(""))
}

/// Waits until every job in `ids` is final. Events drive the wait; whenever the stream skips
/// a seq the jobs are looked up directly, so a lost event cannot stall the test (the caller
/// checks the stream itself).
async fn wait_all_final(c: &mut RawClient, ids: &[String]) {
    let mut open: HashSet<String> = ids.iter().cloned().collect();
    let mut last: Option<u64> = None;
    let mut recheck = true;
    loop {
        if recheck {
            for id in open.clone() {
                let job = c.ok("jobs.get", json!({"id": id})).await;
                if is_final(&job["state"]) {
                    open.remove(&id);
                }
            }
            recheck = false;
        }
        if open.is_empty() {
            return;
        }
        let n = c.notification().await;
        if n["method"] != "event" {
            recheck = true;
            continue;
        }
        let ev = &n["params"];
        let seq = ev["seq"].as_u64().expect("seq");
        if last.is_some_and(|l| seq != l + 1) {
            recheck = true;
        }
        last = Some(seq);
        if ev["type"] == "state" && is_final(&ev["to"]) {
            open.remove(ev["job_id"].as_str().unwrap_or_default());
        }
    }
}

/// The seqs one subscriber received after `since`, up to `head`, and what was wrong with
/// them: (received, missed, duplicated or out of order, resyncs).
async fn read_stream(c: &mut RawClient, since: u64, head: u64) -> (usize, usize, usize, usize) {
    let (mut received, mut missed, mut bad, mut resyncs) = (0, 0, 0, 0);
    let mut last = since;
    while last < head {
        let n = c.notification().await;
        if n["method"] == "resync" {
            resyncs += 1;
            break;
        }
        if n["method"] != "event" {
            continue;
        }
        let seq = n["params"]["seq"].as_u64().expect("seq");
        received += 1;
        if seq <= last {
            bad += 1;
            continue;
        }
        missed += (seq - last - 1) as usize;
        last = seq;
    }
    (received, missed, bad, resyncs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscriber_sees_every_event_once_and_in_order_under_load() {
    const JOBS: usize = 300;
    const CLIENTS: usize = 100;
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    ms.set_daily_limits(100_000, 100_000);
    let home = Home::with_modelscope(
        &ms,
        "max_concurrent = 100\nrequests_per_second = 10000\ntypical_s = 0.5\n",
    );
    home.start_daemon();
    let mut control = home.client().await;
    let since = control.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .expect("head_seq");
    let mut subscribers = Vec::new();
    for _ in 0..CLIENTS {
        let mut c = home.client().await;
        c.ok("subscribe", json!({"since_seq": since})).await;
        subscribers.push(c);
    }
    let mut ids = Vec::new();
    for i in 0..JOBS {
        ids.push(
            control
                .submit_prompt("modelscope", &format!("load {i}"))
                .await,
        );
    }
    wait_all_final(&mut control, &ids).await;
    let mut probe = home.client().await;
    let head = probe.ok("subscribe", json!({})).await["head_seq"]
        .as_u64()
        .expect("head_seq");
    let committed = (head - since) as usize;

    let mut report = Vec::new();
    for (k, c) in subscribers.iter_mut().enumerate() {
        let (received, missed, bad, resyncs) = read_stream(c, since, head).await;
        report.push(format!(
            "client {k}: {received} received of {committed}, {missed} missed, {bad} \
             duplicated or out of order, {resyncs} resyncs"
        ));
    }
    println!("{JOBS} jobs, {committed} events\n{}", report.join("\n"));
    for line in &report {
        assert!(
            line.contains(&format!("{committed} received of"))
                && line.contains(" 0 missed, 0 duplicated")
                && line.ends_with(" 0 resyncs"),
            "{}",
            report.join("\n")
        );
    }
    assert_eq!(ms.requests_to(Endpoint::Submit).len(), JOBS);
}

/// Every job of this home, as `jobs.list` gives them.
async fn all_jobs(c: &mut RawClient) -> Vec<Value> {
    let page = c.ok("jobs.list", json!({"limit": 500})).await;
    page["jobs"].as_array().cloned().unwrap_or_default()
}

/// Waits until some job is `running` (by its event, or because one already is).
async fn wait_some_running(home: &Home) {
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    if all_jobs(&mut c)
        .await
        .iter()
        .any(|j| j["state"] == "running")
    {
        return;
    }
    c.events_until(|e| e["type"] == "state" && e["to"] == "running")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_holds_across_stops_and_crashes() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_secs(3)));
    let home = Home::with_modelscope(
        &ms,
        "max_concurrent = 1\nrequests_per_second = 100\ntypical_s = 1.0\n",
    );
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            c.submit_prompt("modelscope", &format!("one at a time {i}"))
                .await,
        );
    }
    drop(c);
    for cycle in 0..6 {
        wait_some_running(&home).await;
        if cycle % 2 == 0 {
            home.ok_async(&["daemon", "stop"]).await;
        } else {
            home.kill9();
        }
        home.ok_async(&["daemon", "start"]).await;
    }
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    wait_all_final(&mut c, &ids).await;
    let remote: Vec<String> = all_jobs(&mut c)
        .await
        .iter()
        .filter_map(|j| j["remote_id"].as_str().map(str::to_string))
        .collect();
    let most = ms.flights().max_where(|f| remote.contains(&f.task_id));
    assert!(
        most <= 1,
        "{most} tasks ran at the provider at once with max_concurrent = 1\n{}",
        home.log_tail()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_jobs_wait_for_the_request_budget_leaves_them_queued() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    // One request every 10 s: the first job is sent, the others wait for the budget.
    let home = Home::with_modelscope(
        &ms,
        "max_concurrent = 5\nrequests_per_second = 0.1\ntypical_s = 0.5\n",
    );
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(c.submit_prompt("modelscope", &format!("patient {i}")).await);
    }
    c.events_until(|e| e["type"] == "state" && e["to"] == "running")
        .await;
    home.ok_async(&["daemon", "stop"]).await;
    assert_eq!(ms.requests_to(Endpoint::Submit).len(), 1);

    home.write_config(&format!(
        "[providers.modelscope]\nbase_url = \"{}\"\napi_key_env = \"GENQ_TEST_MS_KEY\"\n\
         max_concurrent = 5\nrequests_per_second = 100\ntypical_s = 0.5\n",
        ms.base_url()
    ));
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    wait_all_final(&mut c, &ids).await;
    for job in all_jobs(&mut c).await {
        assert_eq!(job["state"], "succeeded", "{job}");
    }
    assert_eq!(ms.requests_to(Endpoint::Submit).len(), 4);
    assert_eq!(ms.task_ids().len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_state_change_cannot_be_written_finishes_once_the_database_frees_up() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(800)));
    let home = Home::with_modelscope(&ms, "typical_s = 0.5\n");
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c
        .submit_prompt("modelscope", "through a locked database")
        .await;
    c.events_until(|e| e["type"] == "state" && e["to"] == "running")
        .await;
    // Another process holds the write lock past the daemon's busy timeout: the move to
    // `fetching` fails to commit.
    let db = rusqlite::Connection::open(&home.paths.db).expect("open the database");
    db.execute_batch("BEGIN EXCLUSIVE").expect("lock");
    let start = std::time::Instant::now();
    while !home.log().contains("cannot record a state change") {
        assert!(
            start.elapsed() < genq_e2e::harness::PATIENCE,
            "no failed write in the log\n{}",
            home.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    db.execute_batch("ROLLBACK").expect("unlock");
    drop(db);
    wait_all_final(&mut c, std::slice::from_ref(&id)).await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_while_polling_names_the_last_error_and_its_request_id() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_secs(60)));
    ms.inject(
        Endpoint::Poll,
        Fault::Reply {
            status: 503,
            body: json!({"errors": {"message": "upstream busy"}, "request_id": "req-busy-1"}),
        },
        1000,
    );
    let home = Home::with_modelscope(&ms, "timeout_s = 2\ntypical_s = 0.5\n");
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", "never seen to finish").await;
    assert_eq!(c.wait_final(&id).await, "failed");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let error = &job["error"];
    assert_eq!(error["kind"], "timeout", "{job}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(message.contains("upstream busy"), "{message}");
    assert_eq!(error["provider_request_id"], "req-busy-1", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_that_cannot_be_saved_waits_for_the_disk_instead_of_failing() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    let home = Home::with_modelscope(&ms, "typical_s = 0.5\n");
    home.ok_async(&["daemon", "start"]).await;
    // A file where the outputs directory belongs: nothing can be created under it.
    let outputs = home.paths.outputs.clone();
    if outputs.is_dir() {
        std::fs::remove_dir_all(&outputs).expect("remove outputs");
    }
    std::fs::write(&outputs, b"in the way").expect("block outputs");
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", "saved later").await;
    let seen = c
        .events_until(|e| {
            e["job_id"] == id.as_str()
                && (e["type"] == "note" || (e["type"] == "state" && is_final(&e["to"])))
        })
        .await;
    let last = seen.last().expect("an event");
    assert_eq!(last["type"], "note", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot be saved"),
        "{last}"
    );
    std::fs::remove_file(&outputs).expect("unblock outputs");
    assert_eq!(c.wait_final(&id).await, "succeeded");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let path = job["outputs"][0]["path"].as_str().expect("output path");
    assert!(std::path::Path::new(path).is_file(), "{job}");
}

/// Milliseconds from the `i`-th submit the fake received to the first poll of its task.
fn first_poll_after_submit(core: &genq_e2e::fakes::Core, task: &str, i: usize) -> u128 {
    let submit = core.requests_to(Endpoint::Submit)[i].at;
    let poll = core
        .requests_to(Endpoint::Poll)
        .into_iter()
        .find(|r| r.task_id.as_deref() == Some(task))
        .expect("a poll of the task")
        .at;
    poll.duration_since(submit)
        .expect("poll after submit")
        .as_millis()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polling_learns_how_long_tasks_take_not_when_a_poll_noticed() {
    // DashScope reports when a task ended: its run time is recorded exactly, and the next
    // job's first poll comes near it instead of near the typical 4 s.
    let ds = genq_e2e::fakes::DashScopeFake::start().await;
    ds.set_script(genq_e2e::fakes::DsScript::succeed_after(
        Duration::from_millis(500),
    ));
    let home = Home::with_dashscope(&ds, "typical_s = 4\n");
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let mut jobs = Vec::new();
    for i in 0..2 {
        let id = c
            .submit(
                json!({"spec": {"provider": "dashscope", "prompt": format!("quick {i}"), "n": 1}}),
            )
            .await;
        assert_eq!(c.wait_final(&id).await, "succeeded");
        jobs.push(c.ok("jobs.get", json!({"id": id})).await);
    }
    assert_eq!(jobs[0]["generation_ms"], 500, "{}", jobs[0]);
    let tasks = ds.task_ids();
    let first = first_poll_after_submit(&ds, &tasks[0], 0);
    let second = first_poll_after_submit(&ds, &tasks[1], 1);
    assert!(
        second * 2 < first,
        "the second job's first poll came {second} ms after its submit, the first's {first} ms"
    );

    // ModelScope does not say when a task ended: it ended between the last poll that saw it
    // running and the one that saw it done, so about half-way when the first poll saw it done.
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    let home = Home::with_modelscope(&ms, "typical_s = 4\n");
    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", "quick").await;
    assert_eq!(c.wait_final(&id).await, "succeeded");
    let job = c.ok("jobs.get", json!({"id": id})).await;
    let noticed = first_poll_after_submit(&ms, &ms.task_ids()[0], 0);
    let learned = job["generation_ms"].as_u64().expect("generation_ms") as u128;
    assert!(
        learned * 4 < noticed * 3,
        "learned {learned} ms from a task first seen done {noticed} ms after its submit"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_while_a_refused_submit_waits_out_its_429_leaves_the_job_queued() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(200)));
    let home = Home::with_modelscope(&ms, "typical_s = 0.5\n");
    home.ok_async(&["daemon", "start"]).await;
    // The submit is refused with a long pause: the provider accepted nothing.
    ms.rate_limit_next(1, Some(600));
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c.submit_prompt("modelscope", "refused once").await;
    c.events_until(|e| e["job_id"] == id.as_str() && e["type"] == "note")
        .await;
    let job = c.ok("jobs.get", json!({"id": id})).await;
    assert_eq!(job["state"], "queued", "{job}");
    home.ok_async(&["daemon", "stop"]).await;
    assert_eq!(ms.requests_to(Endpoint::Submit).len(), 1);
    assert!(ms.task_ids().is_empty());

    home.ok_async(&["daemon", "start"]).await;
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    assert_eq!(c.wait_final(&id).await, "succeeded", "{}", home.log_tail());
    assert_eq!(ms.requests_to(Endpoint::Submit).len(), 2);
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_poll_is_noted_on_the_job_and_polling_goes_on() {
    let ms = ModelScopeFake::start().await;
    ms.set_script(MsScript::succeed_after(Duration::from_millis(300)));
    let home = Home::with_modelscope(&ms, "typical_s = 0.2\nrequests_per_second = 100\n");
    home.ok_async(&["daemon", "start"]).await;
    ms.inject(Endpoint::Poll, Fault::ServerError(503), 1);
    let mut c = home.client().await;
    c.ok("subscribe", json!({})).await;
    let id = c
        .submit_prompt("modelscope", "a poll that fails once")
        .await;
    let notes = c
        .events_until(|e| {
            e["job_id"] == id.as_str()
                && e["type"] == "note"
                && e["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("poll failed")
        })
        .await;
    assert!(notes.last().is_some());
    assert_eq!(c.wait_final(&id).await, "succeeded", "{}", home.log_tail());
}
