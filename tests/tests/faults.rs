//! Misbehaving providers, through the real daemon and the fake servers: a submit that may
//! have reached the provider is never sent twice (the job fails `interrupted` and
//! `genq retry` sends it again), a request refused before the provider accepted it is sent
//! again, a key echoed back by a provider is stored nowhere, and an endless reply cannot
//! blow up the daemon's memory.

use genq_daemon::providers::modelscope::ModelScope;
use genq_daemon::providers::{CallContext, Provider};
use genq_daemon::secret::Secret;
use genq_e2e::fakes::{
    Core, DashScopeFake, Endpoint, Fake, Fault, ModelScopeFake, MsScript, Scripted, TripoFake,
};
use genq_e2e::harness::{Home, PATIENCE, init_tls};
use genq_protocol::{JobErrorKind, JobSpec};
use serde_json::{Value, json};
use std::time::Duration;

const QUICK: Duration = Duration::from_millis(200);
/// Quick tasks get their first poll soon.
const TYPICAL: &str = "typical_s = 0.5\n";

/// Makes the fake's tasks quick, for a home built on it.
fn quick<P: Scripted>(fake: &Fake<P>) -> &Fake<P> {
    fake.set_duration(QUICK);
    fake
}

/// `genq retry ID`: the new job's id.
async fn retry(home: &Home, id: &str) -> String {
    home.ok_async(&["retry", id]).await.trim().to_string()
}

/// Injects `fault` into the next submit, checks that the provider got exactly one request and
/// created one task, and that the job failed `interrupted` saying how to send it again; then
/// `genq retry` creates a new job that succeeds. Returns the failed job.
async fn sent_once_then_retried(home: &Home, provider: &str, fake: &Core, fault: Fault) -> Value {
    fake.inject(Endpoint::Submit, fault.clone(), 1);
    let id = home.submit(provider, "a lighthouse").await;
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "failed", "{fault:?}: {job}");
    assert_eq!(job["error"]["kind"], "interrupted", "{fault:?}: {job}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    for words in ["may or may not", "genq retry"] {
        assert!(message.contains(words), "{fault:?}: {message}");
    }
    assert_eq!(
        fake.submit_count(),
        1,
        "{fault:?}: the submit was sent again"
    );
    assert_eq!(fake.task_ids().len(), 1, "{fault:?}: one task per job");

    let again = retry(home, &id).await;
    assert_ne!(again, id);
    let second = home.finished(&again).await;
    assert_eq!(
        second["state"],
        "succeeded",
        "{second}\n{}",
        home.log_tail()
    );
    assert_eq!(second["retry_of"], json!(id));
    assert_eq!(fake.submit_count(), 2);
    assert_eq!(fake.task_ids().len(), 2);
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modelscope_500_after_accepting_is_not_sent_again() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);
    let job = sent_once_then_retried(&home, "modelscope", &ms, Fault::AcceptThenError(500)).await;
    assert!(
        job["error"]["provider_request_id"].is_string(),
        "the provider's request id is lost: {job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dashscope_503_after_accepting_is_not_sent_again() {
    let ds = DashScopeFake::start().await;
    let home = Home::with_dashscope(quick(&ds), TYPICAL);
    sent_once_then_retried(&home, "dashscope", &ds, Fault::AcceptThenError(503)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tripo_500_after_accepting_is_not_sent_again() {
    let tp = TripoFake::start().await;
    let home = Home::with_tripo(quick(&tp), TYPICAL);
    let job = sent_once_then_retried(&home, "tripo", &tp, Fault::AcceptThenError(500)).await;
    assert!(
        job["error"]["provider_request_id"].is_string(),
        "the trace id is lost: {job}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_2xx_to_a_submit_is_not_sent_again() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);
    sent_once_then_retried(&home, "modelscope", &ms, Fault::Malformed).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_dropped_after_accepting_is_not_sent_again() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);
    sent_once_then_retried(&home, "modelscope", &ms, Fault::AcceptThenDrop).await;
}

/// A provider that accepts and answers after the client gave up: the adaptor's error says
/// the request may have been accepted (the daemon's client waits a minute, too long here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_later_than_the_client_timeout_may_have_been_accepted() {
    init_tls();
    let ms = ModelScopeFake::start().await;
    ms.inject(
        Endpoint::Submit,
        Fault::AcceptThenLate(Duration::from_secs(5)),
        1,
    );
    let ctx = CallContext {
        http: reqwest::Client::builder()
            .timeout(Duration::from_millis(500))
            .build()
            .unwrap(),
        base_url: ms.base_url(),
        key: Some(Secret::new(ms.key())),
        spool: std::env::temp_dir(),
    };
    let mut spec = JobSpec {
        provider: "modelscope".into(),
        prompt: "late".into(),
        ..JobSpec::default()
    };
    let adaptor = ModelScope::new();
    adaptor.validate(&mut spec, &[]).unwrap();
    let e = adaptor.submit(&ctx, &spec).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Network, "{e:?}");
    assert!(
        e.maybe_accepted,
        "a timed-out submit counts as unsent: {e:?}"
    );
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_connection_is_retried_until_the_provider_listens() {
    // A port nobody listens on yet.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap();
    let mut home = Home::with_config(&format!(
        "[providers.modelscope]\nbase_url = \"http://{addr}\"\napi_key_env = \"GENQ_TEST_MS_KEY\"\n{TYPICAL}"
    ));
    home.env("GENQ_TEST_MS_KEY", "ms-fake-key-for-a-closed-port");
    let id = home.submit("modelscope", "a closed door").await;
    let mut c = home.subscribed().await;
    let refused = tokio::time::timeout(
        PATIENCE,
        c.events_until(|e| e["job_id"] == id.as_str() && e["type"] == "note"),
    )
    .await
    .expect("a note about the refused connection");
    let note = refused.last().map(Value::to_string).unwrap_or_default();
    assert!(note.contains("could not connect"), "{note}");

    let ms = ModelScopeFake::bind(addr).await.unwrap();
    ms.set_key("ms-fake-key-for-a-closed-port");
    ms.set_script(MsScript::succeed_after(QUICK));
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", home.log_tail());
    assert_eq!(ms.submit_count(), 1);
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_to_a_submit_is_sent_again_and_the_job_succeeds() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);
    ms.inject(
        Endpoint::Submit,
        Fault::RateLimited {
            retry_after: Some(1),
        },
        2,
    );
    let id = home.submit("modelscope", "patience").await;
    let job = home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}");
    assert_eq!(ms.submit_count(), 3, "two refused, one accepted");
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_on_object_storage_download_while_the_api_is_paused() {
    // The provider's API pauses everyone for ten minutes after a 429; the outputs live on
    // another host (object storage), which is not the API: their downloads go on.
    let ds = DashScopeFake::start().await;
    ds.set_files_host("localhost");
    let home = Home::with_dashscope(quick(&ds), TYPICAL);
    // The first output answers slowly, so the pause starts before the second is fetched.
    ds.inject(Endpoint::Download, Fault::Delay(Duration::from_secs(3)), 1);
    let job = home
        .submit_job("dashscope", &["--prompt", "two lanterns", "--n", "2"])
        .await;
    let id = job["id"].as_str().expect("an id").to_string();
    assert!(ds.wait_for_request(Endpoint::Download, PATIENCE).await);

    ds.inject(
        Endpoint::Submit,
        Fault::RateLimited {
            retry_after: Some(600),
        },
        1,
    );
    let paused = home.submit("dashscope", "a third lantern").await;
    assert!(
        ds.wait_for(PATIENCE, |reqs| reqs
            .iter()
            .filter(|r| r.endpoint == Endpoint::Submit)
            .count()
            == 2)
            .await
    );

    let job = home.finished(&id).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", home.log_tail());
    assert_eq!(job["outputs"].as_array().map(Vec::len), Some(2), "{job}");
    assert_eq!(ds.download_count(&ds.task_ids()[0]), 2);
    // The API was still paused: the refused job has not been sent again.
    let refused = home.json(&["show", &paused, "--json"]);
    assert_eq!(refused["state"], "queued", "{refused}");
    assert_eq!(ds.task_ids().len(), 1);
}

/// Everything of a home a user or another program could read: the job as `show --json`
/// prints it, the database files and the daemon's log.
fn readable_traces(home: &Home, ids: &[&str]) -> String {
    let mut all = String::new();
    for id in ids {
        all.push_str(&home.ok(&["show", id, "--json"]));
    }
    let db = &home.paths.db;
    for suffix in ["", "-wal", "-shm"] {
        let path = format!("{}{suffix}", db.display());
        if let Ok(bytes) = std::fs::read(&path) {
            all.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    all.push_str(&home.log());
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_echoed_in_an_error_reply_is_stored_nowhere() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);
    let key = ms.key();

    // Refused outright (400), then refused after the provider may have acted (500).
    ms.inject(Endpoint::Submit, Fault::EchoHeaders(400), 1);
    let refused = home.submit("modelscope", "an echo").await;
    let refused_job = home.finished(&refused).await;
    assert_eq!(refused_job["state"], "failed", "{refused_job}");
    let traces = readable_traces(&home, &[&refused]);
    assert!(!traces.contains(&key), "the key was stored or logged");

    ms.inject(Endpoint::Submit, Fault::EchoHeaders(500), 1);
    let unsure = home.submit("modelscope", "another echo").await;
    let unsure_job = home.finished(&unsure).await;
    assert_eq!(unsure_job["error"]["kind"], "interrupted", "{unsure_job}");
    for job in [&refused_job, &unsure_job] {
        let message = job["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("request rejected"), "{message}");
    }
    let traces = readable_traces(&home, &[&refused, &unsure]);
    assert!(!traces.contains(&key), "the key was stored or logged");

    let again = retry(&home, &refused).await;
    assert_eq!(home.finished(&again).await["state"], "succeeded");
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/PID/status");
    kb * 1024
}

/// 256 MiB: far over the cap, and over the memory bound below if it were read.
const ENDLESS: u64 = 256 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_reply_is_cut_at_the_cap_and_memory_stays_bounded() {
    let ms = ModelScopeFake::start().await;
    let home = Home::with_modelscope(quick(&ms), TYPICAL);

    // To a submit: the provider may have acted on it, so it is not sent again.
    ms.inject(Endpoint::Submit, Fault::HugeBody(ENDLESS), 1);
    let id = home.submit("modelscope", "a very long answer").await;
    let job = home.finished(&id).await;
    assert_eq!(job["error"]["kind"], "interrupted", "{job}");
    let message = job["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("16 MiB"),
        "the cap is not named: {message}"
    );
    assert_eq!(ms.submit_count(), 1);

    // To polls: they are asked again until a normal reply comes.
    ms.inject(Endpoint::Poll, Fault::HugeBody(ENDLESS), 2);
    let again = retry(&home, &id).await;
    let job = home.finished(&again).await;
    assert_eq!(job["state"], "succeeded", "{job}\n{}", home.log_tail());
    let task = &ms.task_ids()[0];
    assert!(ms.poll_count(task) >= 3, "the endless polls were not made");

    let pid = home.daemon_pid().expect("daemon running");
    let peak = peak_rss(pid);
    assert!(
        peak < 200 * 1024 * 1024,
        "the daemon peaked at {} MiB",
        peak / (1024 * 1024)
    );
}
