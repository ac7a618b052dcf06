//! Pins the fake providers' wire contract (providers.md §1, §2, §6) with plain HTTP requests.

use std::time::Duration;

use genq_e2e::fakes::{
    DashScopeFake, DsOutcome, DsScript, EchoSucceed, Endpoint, Fault, IdStyle, ModelScopeFake,
    MsOutcome, MsScript,
};
use reqwest::{Client, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);

fn client() -> Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::builder().build().unwrap()
}

async fn body(r: Response) -> Value {
    r.json().await.unwrap()
}

fn header(r: &Response, name: &str) -> Option<String> {
    r.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// `req` with this bearer key and header when given.
fn authed(
    mut req: RequestBuilder,
    key: Option<&str>,
    header: Option<(&str, &str)>,
) -> RequestBuilder {
    if let Some(key) = key {
        req = req.bearer_auth(key);
    }
    if let Some((name, value)) = header {
        req = req.header(name, value);
    }
    req
}

/// POSTs `body` as JSON to `url`, with this bearer key and header when given.
async fn post_json(
    c: &Client,
    url: &str,
    key: Option<&str>,
    header: Option<(&str, &str)>,
    body: &Value,
) -> reqwest::Result<Response> {
    authed(c.post(url), key, header).json(body).send().await
}

/// GETs `url` with this bearer key and header when given.
async fn get(c: &Client, url: &str, key: &str, header: Option<(&str, &str)>) -> Response {
    authed(c.get(url), Some(key), header).send().await.unwrap()
}

// ---------------------------------------------------------------- ModelScope

/// The header that asks ModelScope for async mode.
const MS_ASYNC: (&str, &str) = ("X-ModelScope-Async-Mode", "true");

fn ms_submit_url(ms: &ModelScopeFake) -> String {
    format!("{}/v1/images/generations", ms.base_url())
}

fn ms_body() -> Value {
    json!({"model": "Qwen/Qwen-Image", "prompt": "a red fox", "size": "1024x1024"})
}

async fn ms_submit(c: &Client, ms: &ModelScopeFake, body: &Value) -> Response {
    let url = ms_submit_url(ms);
    post_json(c, &url, Some(&ms.key()), Some(MS_ASYNC), body)
        .await
        .unwrap()
}

async fn ms_poll(c: &Client, ms: &ModelScopeFake, id: &str) -> Value {
    let url = format!("{}/v1/tasks/{id}", ms.base_url());
    let task_type = ("X-ModelScope-Task-Type", "image_generation");
    let r = get(c, &url, &ms.key(), Some(task_type)).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

/// Poll until a terminal status, returning the distinct statuses seen in order (task-not-found
/// shows as "not found") and the last body.
async fn ms_poll_until_done(c: &Client, ms: &ModelScopeFake, id: &str) -> (Vec<String>, Value) {
    let mut seen: Vec<String> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let b = ms_poll(c, ms, id).await;
        let status = if b["errors"]["message"] == "task not found" {
            "not found".to_string()
        } else {
            b["task_status"].as_str().unwrap_or("").to_string()
        };
        if seen.last() != Some(&status) {
            seen.push(status.clone());
        }
        if status == "SUCCEED" || (status == "FAILED" && b["errors"]["code"] != 500) {
            return (seen, b);
        }
        assert!(tokio::time::Instant::now() < deadline, "no end: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn ms_auth_and_async_header_are_enforced() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    assert!(ms.key().starts_with("ms-"));
    let url = ms_submit_url(&ms);

    let r = post_json(&c, &url, None, Some(MS_ASYNC), &ms_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(body(r).await["errors"]["message"].is_string());

    let r = post_json(&c, &url, Some("ms-wrong"), Some(MS_ASYNC), &ms_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let r = post_json(&c, &url, Some(&ms.key()), None, &ms_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let b = body(r).await;
    assert_eq!(
        b["errors"]["message"],
        "image-gen task currently does not support synchronous calls. Please refer to the documentation and set header X-ModelScope-Async-Mode=true to switch to asynchronous calling mode"
    );
    assert!(b["request_id"].is_string());
    assert!(ms.task_ids().is_empty());

    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::OK);
    for h in [
        "modelscope-ratelimit-requests-limit",
        "modelscope-ratelimit-requests-remaining",
        "modelscope-ratelimit-model-requests-limit",
        "modelscope-ratelimit-model-requests-remaining",
    ] {
        assert!(header(&r, h).is_some(), "{h} missing");
    }
    let b = body(r).await;
    assert!(b["task_id"].is_string() && b["request_id"].is_string());
    assert_eq!(ms.submit_count(), 4);
    assert_eq!(ms.task_ids(), vec![b["task_id"].as_str().unwrap()]);
    let rec = &ms.requests_to(Endpoint::Submit)[3];
    assert_eq!(rec.method, "POST");
    assert_eq!(rec.header("x-modelscope-async-mode"), Some("true"));
    assert_eq!(rec.body.as_ref().unwrap()["prompt"], "a red fox");
}

#[tokio::test]
async fn ms_ids_alternate_and_submit_may_echo_succeed() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    let a = body(ms_submit(&c, &ms, &ms_body()).await).await;
    let b = body(ms_submit(&c, &ms, &ms_body()).await).await;
    assert_eq!(a["task_status"], "SUCCEED", "first submit echoes SUCCEED");
    assert!(b.get("task_status").is_none());
    assert!(uuid::Uuid::parse_str(a["task_id"].as_str().unwrap()).is_ok());
    assert!(
        b["task_id"]
            .as_str()
            .unwrap()
            .bytes()
            .all(|c| c.is_ascii_digit())
    );

    ms.set_id_style(IdStyle::Numeric);
    ms.set_echo_succeed(EchoSucceed::Never);
    let d = body(ms_submit(&c, &ms, &ms_body()).await).await;
    assert!(d.get("task_status").is_none());
    assert!(d["task_id"].as_str().unwrap().parse::<u64>().is_ok());
}

#[tokio::test]
async fn ms_progression_reaches_succeed_and_serves_png_until_expiry() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_script(MsScript {
        duration: Duration::from_millis(900),
        not_found_for: Some(Duration::from_millis(250)),
        running_status: Some("PROCESSING".into()),
        outcome: MsOutcome::Succeed,
    });
    let id = body(ms_submit(&c, &ms, &ms_body()).await).await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (seen, last) = ms_poll_until_done(&c, &ms, &id).await;
    // Order is fixed; on a loaded machine a short phase may be skipped between two polls.
    let order = ["not found", "PENDING", "PROCESSING", "SUCCEED"];
    let idx: Vec<usize> = seen
        .iter()
        .map(|s| order.iter().position(|o| o == s).unwrap())
        .collect();
    assert!(idx.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert_eq!(seen.last().unwrap(), "SUCCEED");
    assert!(ms.poll_count(&id) >= seen.len());

    let url = last["output_images"][0].as_str().unwrap().to_string();
    assert!(url.starts_with(&ms.base_url()));
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "content-type").unwrap(), "image/png");
    let png = r.bytes().await.unwrap();
    assert_eq!(png, ms.output_png(&id).unwrap());
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!((img.width(), img.height()), (64, 64));

    ms.set_url_ttl(Duration::ZERO);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("<Code>AccessDenied</Code>")
    );
    assert_eq!(ms.download_count(&id), 2);
}

#[tokio::test]
async fn ms_distinct_png_per_task() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_duration(Duration::ZERO);
    let a = body(ms_submit(&c, &ms, &ms_body()).await).await;
    let b = body(ms_submit(&c, &ms, &ms_body()).await).await;
    let pa = ms.output_png(a["task_id"].as_str().unwrap()).unwrap();
    let pb = ms.output_png(b["task_id"].as_str().unwrap()).unwrap();
    assert_ne!(pa, pb);
}

#[tokio::test]
async fn ms_poll_without_task_type_header_is_task_not_found() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_duration(Duration::ZERO);
    let id = body(ms_submit(&c, &ms, &ms_body()).await).await["task_id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{}/v1/tasks/{id}", ms.base_url());
    let b = body(get(&c, &url, &ms.key(), None).await).await;
    assert_eq!(
        b,
        json!({"errors": {"code": 500, "message": "task not found"}, "task_status": "FAILED"})
    );
    assert_eq!(ms_poll(&c, &ms, &id).await["task_status"], "SUCCEED");
    assert_eq!(ms.poll_count(&id), 2);
}

#[tokio::test]
async fn ms_outcome_variants() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    let now = Duration::ZERO;
    ms.script_next(MsScript::outcome_after(now, MsOutcome::ContentPolicy));
    ms.script_next(MsScript::outcome_after(now, MsOutcome::Cancel));
    ms.script_next(MsScript::outcome_after(now, MsOutcome::Unknown));
    ms.script_next(MsScript::outcome_after(
        now,
        MsOutcome::Status("WEIRD".into()),
    ));
    ms.script_next(MsScript::outcome_after(now, MsOutcome::Never));
    ms.script_next(MsScript::outcome_after(
        now,
        MsOutcome::Failed {
            code: 400,
            message: "bad lora".into(),
        },
    ));
    let mut got = Vec::new();
    for _ in 0..6 {
        let id = body(ms_submit(&c, &ms, &ms_body()).await).await["task_id"]
            .as_str()
            .unwrap()
            .to_string();
        got.push(ms_poll(&c, &ms, &id).await);
    }
    assert_eq!(got[0]["task_status"], "FAILED");
    assert_eq!(got[0]["errors"]["code"], 422);
    assert_eq!(
        got[0]["errors"]["message"],
        "Output data may contain inappropriate content."
    );
    assert!(got[0]["request_id"].is_string());
    assert_eq!(got[1]["task_status"], "CANCEL");
    assert_eq!(got[2]["task_status"], "UNKNOWN");
    assert_eq!(got[3]["task_status"], "WEIRD");
    assert!(["RUNNING", "PROCESSING"].contains(&got[4]["task_status"].as_str().unwrap()));
    assert_eq!(got[4]["outputs"], json!({}));
    assert_eq!(got[5]["errors"]["message"], "bad lora");
}

#[tokio::test]
async fn ms_validation_errors() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    let long = "x".repeat(2000);
    let bad: Vec<(Value, &str)> = vec![
        (json!({"prompt": "p"}), "model"),
        (json!({"model": "Qwen-Image", "prompt": "p"}), "model"),
        (json!({"model": "Qwen/Qwen-Image"}), "prompt"),
        (json!({"model": "Qwen/Qwen-Image", "prompt": long}), "2000"),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "size": "1024*1024"}),
            "size",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "size": "2048x2048"}),
            "1664",
        ),
        (
            json!({"model": "black-forest-labs/FLUX.1-Krea-dev", "prompt": "p", "size": "1328x1328"}),
            "1024",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "seed": -1}),
            "seed",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "steps": 101}),
            "steps",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "guidance": 1.0}),
            "guidance",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "loras": {"a/b": 0.5, "c/d": 0.4}}),
            "sum",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p",
                "loras": {"a/1": 0.2, "a/2": 0.2, "a/3": 0.2, "a/4": 0.1, "a/5": 0.1, "a/6": 0.1, "a/7": 0.1}}),
            "6",
        ),
        (
            json!({"model": "Qwen/Qwen-Image", "prompt": "p", "loras": 3}),
            "loras",
        ),
    ];
    for (b, needle) in bad {
        let r = ms_submit(&c, &ms, &b).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        let msg = body(r).await["errors"]["message"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(msg.contains(needle), "{b} -> {msg}");
    }
    let good = json!({"model": "Qwen/Qwen-Image", "prompt": "p", "size": "1664x928",
        "seed": 2147483647, "steps": 100, "guidance": 1.5, "negative_prompt": "blur",
        "loras": {"merjic/majicbeauty-qwen1": 0.7, "DiffSynth-Studio/Qwen-Image-Distill-LoRA": 0.3}});
    assert_eq!(ms_submit(&c, &ms, &good).await.status(), StatusCode::OK);
    let one =
        json!({"model": "Qwen/Qwen-Image", "prompt": "p", "loras": "merjic/majicbeauty-qwen1"});
    assert_eq!(ms_submit(&c, &ms, &one).await.status(), StatusCode::OK);
    assert_eq!(ms.task_ids().len(), 2);
}

#[tokio::test]
async fn ms_rate_limit_burst_has_exact_body_and_headers() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.rate_limit_next(2, Some(7));
    for _ in 0..2 {
        let r = ms_submit(&c, &ms, &ms_body()).await;
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(header(&r, "retry-after").as_deref(), Some("7"));
        assert_eq!(
            header(&r, "modelscope-ratelimit-requests-limit").as_deref(),
            Some("2000")
        );
        assert!(header(&r, "modelscope-ratelimit-model-requests-remaining").is_some());
        let b = body(r).await;
        assert_eq!(b["errors"]["message"], "Request limit exceeded.");
        assert!(b["errors"]["request_id"].is_string());
    }
    assert_eq!(
        ms_submit(&c, &ms, &ms_body()).await.status(),
        StatusCode::OK
    );
    assert_eq!(ms.submit_count(), 3);
    assert_eq!(ms.task_ids().len(), 1);
}

#[tokio::test]
async fn ms_daily_quota_ends_in_429_with_remaining_zero() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_daily_limits(5, 2);
    ms.set_quota_retry_after(Some(3600));
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(
        header(&r, "modelscope-ratelimit-model-requests-remaining").as_deref(),
        Some("1")
    );
    assert_eq!(
        header(&r, "modelscope-ratelimit-requests-remaining").as_deref(),
        Some("4")
    );
    ms_submit(&c, &ms, &ms_body()).await;
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        header(&r, "modelscope-ratelimit-model-requests-remaining").as_deref(),
        Some("0")
    );
    assert_eq!(header(&r, "retry-after").as_deref(), Some("3600"));
    // Another model still has its own daily allowance.
    let other = json!({"model": "MAILAND/majicflus_v1", "prompt": "p"});
    assert_eq!(ms_submit(&c, &ms, &other).await.status(), StatusCode::OK);
    ms.reset_daily_counters();
    assert_eq!(
        ms_submit(&c, &ms, &ms_body()).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn ms_changed_key_is_required() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    let old = ms.key();
    ms.set_key("ms-rotated");
    let r = post_json(
        &c,
        &ms_submit_url(&ms),
        Some(&old),
        Some(MS_ASYNC),
        &ms_body(),
    )
    .await
    .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        ms_submit(&c, &ms, &ms_body()).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        ms.requests_to(Endpoint::Submit)[1].header("authorization"),
        Some("Bearer ms-rotated")
    );
}

/// The faults of a provider that misbehaves after accepting: each creates the task, then
/// fails the reply in its own way.
#[tokio::test]
async fn faults_after_accepting_create_the_task_and_spoil_the_reply() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.inject(Endpoint::Submit, Fault::AcceptThenError(500), 1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(ms.task_ids().len(), 1);

    ms.inject(Endpoint::Submit, Fault::AcceptThenDrop, 1);
    let url = ms_submit_url(&ms);
    let sent = post_json(&c, &url, Some(&ms.key()), Some(MS_ASYNC), &ms_body()).await;
    let e = sent.expect_err("no reply at all");
    assert!(!e.is_connect(), "{e:?}");
    assert_eq!(ms.task_ids().len(), 2);

    ms.malformed_next(1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(ms.task_ids().len(), 3);

    ms.inject(
        Endpoint::Submit,
        Fault::AcceptThenLate(Duration::from_millis(300)),
        1,
    );
    let quick = Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let sent = post_json(&quick, &url, Some(&ms.key()), Some(MS_ASYNC), &ms_body()).await;
    assert!(sent.err().is_some_and(|e| e.is_timeout()));
    assert!(ms.wait_for_tasks(4, WAIT).await);
}

#[tokio::test]
async fn echoed_headers_and_endless_bodies() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.inject(Endpoint::Submit, Fault::EchoHeaders(502), 1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let echoed = body(r).await;
    assert_eq!(
        echoed["headers"]["authorization"],
        json!(format!("Bearer {}", ms.key()))
    );
    assert!(ms.task_ids().is_empty(), "an echo creates no task");

    let size = 3 * 1024 * 1024 + 5;
    ms.inject(Endpoint::Submit, Fault::HugeBody(size), 1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.content_length(), None, "streamed without a length");
    let bytes = r.bytes().await.unwrap();
    assert_eq!(bytes.len() as u64, size);
    assert!(bytes.starts_with(b"{\"pad\":\"xxx"));
}

#[tokio::test]
async fn ms_generic_faults() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_duration(Duration::ZERO);
    ms.server_error_next(1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(body(r).await["errors"]["message"].is_string());

    ms.malformed_next(1);
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    ms.inject(Endpoint::Poll, Fault::Delay(Duration::from_millis(150)), 1);
    let id = ms.task_ids()[0].clone();
    let t = std::time::Instant::now();
    ms_poll(&c, &ms, &id).await;
    assert!(t.elapsed() >= Duration::from_millis(150));

    let url = ms_poll(&c, &ms, &id).await["output_images"][0]
        .as_str()
        .unwrap()
        .to_string();
    ms.truncate_next_downloads(1);
    let r = c.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.is_err(), "truncated body must fail");
    let full = c.get(&url).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(full, ms.output_png(&id).unwrap());
}

#[tokio::test]
async fn ms_single_concurrency_and_balance() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    ms.set_single_concurrency(true);
    ms.script_next(MsScript::outcome_after(Duration::ZERO, MsOutcome::Never));
    assert_eq!(
        ms_submit(&c, &ms, &ms_body()).await.status(),
        StatusCode::OK
    );
    let r = ms_submit(&c, &ms, &ms_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    let url = format!("{}/openapi/v1/magicubes/balance", ms.base_url());
    let b = body(get(&c, &url, &ms.key(), None).await).await;
    assert_eq!(b["success"], true);
    assert_eq!(b["data"]["frozen_amount"], 2.0);
    assert_eq!(b["data"]["available_balance"], 248.0);
    assert_eq!(b["data"]["total_balance"], 250.0);
}

#[tokio::test]
async fn ms_wait_for_sees_requests() {
    let ms = ModelScopeFake::start().await;
    let c = client();
    let url = format!("{}/v1/images/generations", ms.base_url());
    let send = tokio::spawn(async move {
        c.post(url)
            .header(MS_ASYNC.0, MS_ASYNC.1)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert!(ms.wait_for(WAIT, |r| !r.is_empty()).await);
    assert_eq!(send.await.unwrap(), StatusCode::UNAUTHORIZED);
    assert!(
        !ms.wait_for(Duration::from_millis(20), |r| r.len() > 1)
            .await
    );

    let c = client();
    let url = ms_submit_url(&ms);
    let key = ms.key();
    let send = tokio::spawn(async move {
        post_json(&c, &url, Some(&key), Some(MS_ASYNC), &ms_body())
            .await
            .unwrap()
            .status()
    });
    assert!(ms.wait_for_tasks(1, WAIT).await);
    assert_eq!(ms.task_ids().len(), 1);
    assert_eq!(send.await.unwrap(), StatusCode::OK);
    assert!(!ms.wait_for_tasks(2, Duration::from_millis(20)).await);
}

// ---------------------------------------------------------------- DashScope

const DS_CREATE: &str = "/api/v1/services/aigc/text2image/image-synthesis";
/// The header that asks DashScope for async mode.
const DS_ASYNC: (&str, &str) = ("X-DashScope-Async", "enable");

fn ds_body() -> Value {
    json!({"model": "wan2.2-t2i-flash", "input": {"prompt": "a red fox"},
        "parameters": {"size": "1024*1024", "n": 1, "seed": 42}})
}

async fn ds_create(c: &Client, ds: &DashScopeFake, body: &Value) -> Response {
    let url = format!("{}{DS_CREATE}", ds.base_url());
    post_json(c, &url, Some(&ds.key()), Some(DS_ASYNC), body)
        .await
        .unwrap()
}

async fn ds_query(c: &Client, ds: &DashScopeFake, id: &str) -> Value {
    let url = format!("{}/api/v1/tasks/{id}", ds.base_url());
    let r = get(c, &url, &ds.key(), None).await;
    assert_eq!(r.status(), StatusCode::OK);
    body(r).await
}

async fn ds_task(c: &Client, ds: &DashScopeFake, body: &Value) -> String {
    let r = ds_create(c, ds, body).await;
    assert_eq!(r.status(), StatusCode::OK);
    let b = self::body(r).await;
    assert_eq!(b["output"]["task_status"], "PENDING");
    assert!(b["request_id"].is_string());
    b["output"]["task_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn ds_auth_and_async_header_are_enforced() {
    let ds = DashScopeFake::start().await;
    let c = client();
    assert!(ds.key().starts_with("sk-"));
    let url = format!("{}{DS_CREATE}", ds.base_url());
    let r = post_json(&c, &url, None, Some(DS_ASYNC), &ds_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let b = body(r).await;
    assert_eq!(b["code"], "InvalidApiKey");
    assert_eq!(b["message"], "No API-key provided.");
    assert!(b["request_id"].is_string());

    let r = post_json(&c, &url, Some("sk-wrong"), Some(DS_ASYNC), &ds_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(body(r).await["code"], "InvalidApiKey");

    let r = post_json(&c, &url, Some(&ds.key()), None, &ds_body())
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let b = body(r).await;
    assert_eq!(b["code"], "AccessDenied");
    assert_eq!(
        b["message"],
        "current user api does not support synchronous calls"
    );
    assert!(ds.task_ids().is_empty());

    ds.set_key("sk-rotated");
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn ds_progression_results_and_expiring_urls() {
    let ds = DashScopeFake::start().await;
    let c = client();
    ds.set_duration(Duration::from_millis(800));
    let mut b = ds_body();
    b["parameters"].as_object_mut().unwrap().remove("n");
    let id = ds_task(&c, &ds, &b).await;
    assert_eq!(ds.image_count(&id), Some(4));

    let order = ["PENDING", "RUNNING", "SUCCEEDED"];
    let mut seen: Vec<usize> = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    let last = loop {
        let q = ds_query(&c, &ds, &id).await;
        let s = q["output"]["task_status"].as_str().unwrap();
        let i = order.iter().position(|o| *o == s).unwrap();
        if seen.last() != Some(&i) {
            seen.push(i);
        }
        if s == "SUCCEEDED" {
            break q;
        }
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let out = &last["output"];
    assert!(out["submit_time"].is_string() && out["end_time"].is_string());
    assert_eq!(
        out["task_metrics"],
        json!({"TOTAL": 4, "SUCCEEDED": 4, "FAILED": 0})
    );
    assert_eq!(last["usage"]["image_count"], 4);
    let results = out["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["orig_prompt"], "a red fox");
    assert!(results[0]["actual_prompt"].is_string());

    let pngs = ds.output_pngs(&id);
    let mut urls = Vec::new();
    for (k, r) in results.iter().enumerate() {
        let url = r["url"].as_str().unwrap().to_string();
        assert!(url.starts_with(&ds.base_url()) && url.contains("?Expires="));
        let got = c.get(&url).send().await.unwrap();
        assert_eq!(got.status(), StatusCode::OK);
        assert_eq!(got.bytes().await.unwrap(), pngs[k]);
        urls.push(url);
    }
    assert_ne!(pngs[0], pngs[1]);
    assert_eq!(ds.download_count(&id), 4);

    let tampered = urls[0].replace("Signature=", "Signature=x");
    assert_eq!(
        c.get(&tampered).send().await.unwrap().status(),
        StatusCode::FORBIDDEN
    );
    ds.set_url_ttl(Duration::ZERO);
    let r = c.get(&urls[0]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn ds_validation_errors() {
    let ds = DashScopeFake::start().await;
    let c = client();
    ds.set_throttle(None, None);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = ds_body();
        f(&mut b);
        b
    };
    let bad: Vec<(Value, &str)> = vec![
        (
            with(&|b| b["parameters"]["size"] = json!("1024x1024")),
            "InvalidParameter",
        ),
        (
            with(&|b| b["parameters"]["size"] = json!("256*256")),
            "InvalidParameter",
        ),
        (
            with(&|b| b["input"]["prompt"] = json!("x".repeat(801))),
            "InvalidParameter",
        ),
        (
            with(&|b| b["input"]["negative_prompt"] = json!("x".repeat(501))),
            "InvalidParameter",
        ),
        (
            with(&|b| b["parameters"]["n"] = json!(5)),
            "InvalidParameter",
        ),
        (
            with(&|b| b["parameters"]["n"] = json!(0)),
            "InvalidParameter",
        ),
        (
            with(&|b| b["parameters"]["seed"] = json!(-1)),
            "InvalidParameter",
        ),
        (
            with(&|b| b["model"] = json!("wan2.6-t2i")),
            "InvalidParameter",
        ),
        (with(&|b| b["model"] = json!("")), "BadRequest.EmptyModel"),
        (
            with(&|b| {
                b.as_object_mut().unwrap().remove("input");
            }),
            "BadRequest.EmptyInput",
        ),
        (
            with(&|b| {
                b["model"] = json!("wan2.5-t2i-preview");
                b["parameters"]["size"] = json!("1024*1024");
            }),
            "InvalidParameter",
        ),
    ];
    for (b, code) in bad {
        let r = ds_create(&c, &ds, &b).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{b}");
        let e = body(r).await;
        assert_eq!(e["code"], code, "{b}");
        assert!(e["message"].is_string() && e["request_id"].is_string());
    }
    let wan25 = with(&|b| {
        b["model"] = json!("wan2.5-t2i-preview");
        b["parameters"]["size"] = json!("1280*1280");
        b["input"]["prompt"] = json!("x".repeat(2000));
    });
    assert_eq!(ds_create(&c, &ds, &wan25).await.status(), StatusCode::OK);
    assert_eq!(ds.task_ids().len(), 1);

    ds.reject_next_for_moderation(1);
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(body(r).await["code"], "DataInspectionFailed");
}

#[tokio::test]
async fn ds_outcome_variants_and_unknown_tasks() {
    let ds = DashScopeFake::start().await;
    let c = client();
    ds.set_throttle(None, None);
    let now = Duration::ZERO;
    ds.script_next(DsScript::outcome_after(
        now,
        DsOutcome::PartialFailure { failed: 1 },
    ));
    ds.script_next(DsScript::outcome_after(
        now,
        DsOutcome::Failed {
            code: "InvalidParameter".into(),
            message: "bad size".into(),
        },
    ));
    ds.script_next(DsScript::outcome_after(now, DsOutcome::Canceled));
    ds.script_next(DsScript::outcome_after(now, DsOutcome::Never));
    let mut b = ds_body();
    b["parameters"]["n"] = json!(3);
    let mut q = Vec::new();
    for _ in 0..4 {
        let id = ds_task(&c, &ds, &b).await;
        q.push(ds_query(&c, &ds, &id).await);
    }
    let out = &q[0]["output"];
    assert_eq!(out["task_status"], "SUCCEEDED");
    assert_eq!(
        out["task_metrics"],
        json!({"TOTAL": 3, "SUCCEEDED": 2, "FAILED": 1})
    );
    assert!(out["results"][0]["url"].is_null() && out["results"][0]["code"].is_string());
    assert!(out["results"][1]["url"].is_string());
    assert_eq!(q[0]["usage"]["image_count"], 2);
    assert_eq!(q[1]["output"]["task_status"], "FAILED");
    assert_eq!(q[1]["output"]["code"], "InvalidParameter");
    assert_eq!(q[1]["output"]["message"], "bad size");
    assert_eq!(q[2]["output"]["task_status"], "CANCELED");
    assert_eq!(q[3]["output"]["task_status"], "RUNNING");

    let unknown = ds_query(&c, &ds, "no-such-task").await;
    assert_eq!(unknown["output"]["task_status"], "UNKNOWN");
    ds.set_task_ttl(Duration::ZERO);
    let id = ds.task_ids()[0].clone();
    assert_eq!(
        ds_query(&c, &ds, &id).await["output"]["task_status"],
        "UNKNOWN"
    );
    assert_eq!(ds.poll_count(&id), 2);
}

#[tokio::test]
async fn ds_throttling_and_quota() {
    let ds = DashScopeFake::start().await;
    let c = client();
    ds.set_throttle(None, Some(2));
    ds.set_script(DsScript::outcome_after(Duration::ZERO, DsOutcome::Never));
    ds_task(&c, &ds, &ds_body()).await;
    ds_task(&c, &ds, &ds_body()).await;
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let b = body(r).await;
    assert_eq!(b["code"], "Throttling.RateQuota");
    assert_eq!(
        b["message"],
        "Requests rate limit exceeded, please try again later."
    );

    let ds = DashScopeFake::start().await;
    ds.set_duration(Duration::ZERO);
    ds.set_throttle(Some(1), None);
    ds_task(&c, &ds, &ds_body()).await;
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);

    let ds = DashScopeFake::start().await;
    ds.set_throttle(None, None);
    ds.set_quota(Some(1));
    ds_task(&c, &ds, &ds_body()).await;
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body(r).await["code"], "Throttling.AllocationQuota");
}

#[tokio::test]
async fn ds_rate_limit_fault_and_server_error() {
    let ds = DashScopeFake::start().await;
    let c = client();
    ds.rate_limit_next(1, Some(2));
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(header(&r, "retry-after").as_deref(), Some("2"));
    assert_eq!(body(r).await["code"], "Throttling.RateQuota");
    ds.server_error_next(1);
    let r = ds_create(&c, &ds, &ds_body()).await;
    assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body(r).await["code"], "InternalError");
    assert_eq!(
        ds_create(&c, &ds, &ds_body()).await.status(),
        StatusCode::OK
    );
    assert_eq!(ds.submit_count(), 3);
}
