use super::*;
use crate::catalog::seed::entries_of;
use crate::providers::test_server::{Canned, TestServer};
use genq_protocol::{Lora, Size, Timestamp};
use serde_json::json;

const KEY: &str = "sk-secret-key-0123";

fn spec(prompt: &str) -> JobSpec {
    JobSpec {
        provider: NAME.into(),
        prompt: prompt.into(),
        ..JobSpec::default()
    }
}

fn size(w: u32, h: u32) -> Option<Size> {
    Some(Size {
        width: w,
        height: h,
    })
}

fn with_model(model: &str, s: JobSpec) -> JobSpec {
    JobSpec {
        model: Some(model.into()),
        ..s
    }
}

fn refused(mut s: JobSpec) -> InvalidParam {
    DashScope::new()
        .validate(&mut s, &entries_of(NAME))
        .unwrap_err()
}

fn accepted(mut s: JobSpec) -> JobSpec {
    assert_eq!(
        DashScope::new().validate(&mut s, &entries_of(NAME)),
        Ok(JobKind::Image)
    );
    s
}

fn failed(s: PollStatus) -> ProviderError {
    match s {
        PollStatus::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

fn assert_no_key(e: &ProviderError) {
    assert!(!e.message.contains(KEY), "{}", e.message);
    assert!(!format!("{e:?}").contains(KEY));
}

// ---- validation ----

#[test]
fn defaults_are_filled_in_and_n_is_explicit() {
    let s = accepted(spec("a cat"));
    assert_eq!(s.model.as_deref(), Some("wan2.2-t2i-flash"));
    assert_eq!(s.n, Some(1));
    let s = accepted(JobSpec {
        n: Some(4),
        ..spec("a cat")
    });
    assert_eq!(s.n, Some(4));
    for n in [0, 5] {
        let e = refused(JobSpec {
            n: Some(n),
            ..spec("a")
        });
        assert_eq!(e.field, "n");
        assert_eq!(e.allowed.as_deref(), Some("1–4"));
    }
}

#[test]
fn unknown_models_are_refused_naming_the_known_ones() {
    let e = refused(with_model("wan9-t2i", spec("a")));
    assert_eq!(e.field, "model");
    let allowed = e.allowed.unwrap();
    for id in [
        "wan2.2-t2i-flash",
        "wan2.2-t2i-plus",
        "wanx2.1-t2i-turbo",
        "wanx2.1-t2i-plus",
        "wan2.5-t2i-preview",
        "wanx2.0-t2i-turbo",
    ] {
        assert!(allowed.contains(id), "{allowed}");
        accepted(with_model(id, spec("a")));
    }
}

#[test]
fn sizes_follow_each_models_rules() {
    accepted(JobSpec {
        size: size(512, 1440),
        ..spec("a")
    });
    let e = refused(JobSpec {
        size: size(1441, 1024),
        ..spec("a")
    });
    assert_eq!(e.field, "size");
    assert_eq!(
        e.allowed.as_deref(),
        Some("512x512 to 1440x1440 (each side 512–1440)")
    );

    let wan25 = |w, h| {
        with_model(
            "wan2.5-t2i-preview",
            JobSpec {
                size: size(w, h),
                ..spec("a")
            },
        )
    };
    accepted(wan25(1280, 1280));
    accepted(wan25(1440, 1440));
    accepted(wan25(2880, 720));
    let e = refused(wan25(1024, 1024));
    assert_eq!(e.field, "size");
    assert!(e.message.contains("pixels"), "{}", e.message);
    assert!(e.allowed.unwrap().contains("1:4 to 4:1"));
    assert!(refused(wan25(3000, 690)).message.contains("4:1"));
}

#[test]
fn prompt_limits_depend_on_the_model() {
    assert_eq!(refused(spec(" ")).field, "prompt");
    accepted(spec(&"x".repeat(800)));
    let e = refused(spec(&"x".repeat(801)));
    assert_eq!(e.field, "prompt");
    assert_eq!(e.allowed.as_deref(), Some("at most 800 characters"));
    accepted(with_model("wan2.5-t2i-preview", spec(&"x".repeat(2000))));
    assert_eq!(
        refused(with_model("wan2.5-t2i-preview", spec(&"x".repeat(2001)))).field,
        "prompt"
    );
    let e = refused(JobSpec {
        negative_prompt: Some("n".repeat(501)),
        ..spec("a")
    });
    assert_eq!(e.field, "negative_prompt");
    assert_eq!(e.allowed.as_deref(), Some("at most 500 characters"));
}

#[test]
fn fields_dashscope_has_no_use_for_are_refused() {
    let lora = Lora {
        repo: "a/b".into(),
        weight: 1.0,
    };
    for (s, field) in [
        (
            JobSpec {
                steps: Some(20),
                ..spec("a")
            },
            "steps",
        ),
        (
            JobSpec {
                guidance: Some(5.0),
                ..spec("a")
            },
            "guidance",
        ),
        (
            JobSpec {
                loras: vec![lora],
                ..spec("a")
            },
            "loras",
        ),
        (
            JobSpec {
                image: Some("https://example.com/a.png".into()),
                ..spec("a")
            },
            "image",
        ),
        (
            JobSpec {
                seed: Some(-1),
                ..spec("a")
            },
            "seed",
        ),
    ] {
        assert_eq!(refused(s).field, field);
    }
}

#[test]
fn params_allow_prompt_extend_and_watermark_only() {
    let mut s = spec("a");
    s.params.insert("prompt_extend".into(), json!("false"));
    s.params.insert("watermark".into(), json!(true));
    let s = accepted(s);
    assert_eq!(s.params["prompt_extend"], json!(false));
    let mut s = spec("a");
    s.params.insert("style".into(), json!("<anime>"));
    let e = refused(s);
    assert_eq!(e.field, "params.style");
    assert_eq!(e.allowed.as_deref(), Some("prompt_extend, watermark"));
}

// ---- HTTP ----

#[tokio::test]
async fn create_sends_the_documented_headers_and_body() {
    let server = TestServer::start(vec![Canned::json(
        200,
        r#"{"output":{"task_status":"PENDING","task_id":"0385dc79-task"},"request_id":"4909100c-req"}"#,
    )])
    .await;
    let mut s = JobSpec {
        negative_prompt: Some("blurry".into()),
        size: size(1024, 768),
        seed: Some(42),
        ..spec("a cat on a sofa")
    };
    s.params.insert("prompt_extend".into(), json!(false));
    s.params.insert("watermark".into(), json!(false));
    let s = accepted(s);
    let submitted = DashScope::new()
        .submit(&server.ctx(Some(KEY)), &s)
        .await
        .unwrap();
    assert_eq!(
        submitted,
        Submitted {
            remote_id: "0385dc79-task".into(),
            request_id: Some("4909100c-req".into())
        }
    );
    let req = server.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1/services/aigc/text2image/image-synthesis");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-dashscope-async"), Some("enable"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({
            "model": "wan2.2-t2i-flash",
            "input": {"prompt": "a cat on a sofa", "negative_prompt": "blurry"},
            "parameters": {"size": "1024*768", "n": 1, "seed": 42,
                           "prompt_extend": false, "watermark": false}
        })
    );
}

#[tokio::test]
async fn a_missing_key_fails_as_auth_without_any_request() {
    let server = TestServer::start(vec![]).await;
    let e = DashScope::new()
        .submit(&server.ctx(None), &accepted(spec("a")))
        .await
        .unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Auth, false));
    assert!(e.message.contains("DASHSCOPE_API_KEY"), "{}", e.message);
    assert!(e.message.contains("[providers.dashscope]"), "{}", e.message);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn poll_reads_pending_running_and_success() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"request_id":"r1","output":{"task_id":"t1","task_status":"PENDING"}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"r2","output":{"task_id":"t1","task_status":"RUNNING"}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"r3","output":{"task_id":"t1","task_status":"SUCCEEDED",
              "submit_time":"2025-01-08 16:03:59.840","scheduled_time":"2025-01-08 16:03:59.863","end_time":"2025-01-08 16:04:10.660",
              "results":[{"orig_prompt":"a cat","actual_prompt":"a fluffy cat","url":"https://dashscope-result-wlcb.oss-cn-wulanchabu.aliyuncs.com/1.png?Expires=1736496000"}],
              "task_metrics":{"TOTAL":1,"SUCCEEDED":1,"FAILED":0}},"usage":{"image_count":1}}"#,
        ),
    ])
    .await;
    let p = DashScope::new();
    let ctx = server.ctx(Some(KEY));
    for _ in 0..2 {
        assert_eq!(
            p.poll(&ctx, "t1").await.unwrap(),
            PollStatus::Pending {
                progress: None,
                eta: None
            }
        );
    }
    assert_eq!(
        p.poll(&ctx, "t1").await.unwrap(),
        PollStatus::Succeeded {
            outputs: vec![RemoteOutput {
                url: "https://dashscope-result-wlcb.oss-cn-wulanchabu.aliyuncs.com/1.png?Expires=1736496000".into(),
                role: OutputRole::Image,
                format: Some("png".into()),
                label: None,
            }],
            failures: vec![],
            request_id: Some("r3".into()),
            // 2025-01-08 16:03:59.840 and 16:04:10.660 Beijing time.
            created_at: Some(Timestamp::from_unix_millis(1_736_323_439_840)),
            finished_at: Some(Timestamp::from_unix_millis(1_736_323_450_660)),
        }
    );
    let req = &server.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/api/v1/tasks/t1");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-dashscope-async"), None);
}

#[tokio::test]
async fn partial_failures_are_reported_per_output() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"request_id":"r","output":{"task_id":"t","task_status":"SUCCEEDED",
              "results":[{"url":"https://oss.example/a.png?Expires=1"},
                         {"code":"DataInspectionFailed","message":"Output data may contain inappropriate content."}],
              "task_metrics":{"TOTAL":2,"SUCCEEDED":1,"FAILED":1}},"usage":{"image_count":1}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"r2","output":{"task_id":"t","task_status":"SUCCEEDED",
              "results":[{"code":"DataInspectionFailed","message":"Output data may contain inappropriate content."}],
              "task_metrics":{"TOTAL":1,"SUCCEEDED":0,"FAILED":1}}}"#,
        ),
    ])
    .await;
    let p = DashScope::new();
    let ctx = server.ctx(Some(KEY));
    match p.poll(&ctx, "t").await.unwrap() {
        PollStatus::Succeeded {
            outputs, failures, ..
        } => {
            assert_eq!(outputs.len(), 1);
            assert_eq!(outputs[0].url, "https://oss.example/a.png?Expires=1");
            assert_eq!(
                failures,
                vec![
                    "image 1: DataInspectionFailed: Output data may contain inappropriate content."
                ]
            );
        }
        other => panic!("{other:?}"),
    }
    let e = failed(p.poll(&ctx, "t").await.unwrap());
    assert_eq!((e.kind, e.retryable), (JobErrorKind::ContentPolicy, false));
    assert!(e.message.contains("every image failed"), "{}", e.message);
    assert_eq!(e.request_id.as_deref(), Some("r2"));
}

#[tokio::test]
async fn failed_canceled_and_unknown_tasks() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"request_id":"rf","output":{"task_id":"t","task_status":"FAILED","code":"InvalidParameter","message":"size is invalid"}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"rd","output":{"task_id":"t","task_status":"FAILED","code":"DataInspectionFailed","message":"Input data may contain inappropriate content."}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"rc","output":{"task_id":"t","task_status":"CANCELED"}}"#,
        ),
        Canned::json(
            200,
            r#"{"request_id":"ru","output":{"task_id":"t","task_status":"UNKNOWN"}}"#,
        ),
    ])
    .await;
    let p = DashScope::new();
    let ctx = server.ctx(Some(KEY));
    let e = failed(p.poll(&ctx, "t").await.unwrap());
    assert_eq!((e.kind, e.retryable), (JobErrorKind::InvalidParams, false));
    assert_eq!(
        e.message,
        "dashscope: the task failed: InvalidParameter: size is invalid"
    );
    assert_eq!(e.request_id.as_deref(), Some("rf"));
    let e = failed(p.poll(&ctx, "t").await.unwrap());
    assert_eq!(e.kind, JobErrorKind::ContentPolicy);
    let e = failed(p.poll(&ctx, "t").await.unwrap());
    assert_eq!(e.kind, JobErrorKind::Provider);
    assert!(e.message.contains("canceled"));
    let e = failed(p.poll(&ctx, "t").await.unwrap());
    assert_eq!((e.kind, e.retryable), (JobErrorKind::NotFound, false));
    assert!(e.message.contains("24 h"), "{}", e.message);
    assert_eq!(e.request_id.as_deref(), Some("ru"));
}

#[tokio::test]
async fn create_errors_are_classified_by_code() {
    let server = TestServer::start(vec![
        Canned::json(
            401,
            r#"{"code":"InvalidApiKey","message":"No API-key provided.","request_id":"r401"}"#,
        ),
        Canned::json(
            403,
            r#"{"code":"AccessDenied","message":"current user api does not support synchronous calls","request_id":"r403"}"#,
        ),
        Canned::json(
            400,
            r#"{"code":"DataInspectionFailed","message":"Input data may contain inappropriate content.","request_id":"r"}"#,
        ),
        Canned::json(
            400,
            r#"{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing.","request_id":"r"}"#,
        ),
        Canned::json(
            400,
            r#"{"code":"InvalidParameter","message":"n must be 1-4","request_id":"r"}"#,
        ),
        Canned::json(
            429,
            r#"{"code":"Throttling.RateQuota","message":"Requests rate limit exceeded, please try again later.","request_id":"r429"}"#,
        )
        .header("retry-after", "3"),
        Canned::json(
            429,
            r#"{"code":"Throttling.AllocationQuota","message":"Free allocated quota exceeded.","request_id":"rq"}"#,
        ),
        Canned::json(
            503,
            r#"{"code":"ServiceUnavailable","message":"busy","request_id":"r5"}"#,
        ),
        Canned::json(200, r#"{"output":{"task_status":"PEND"#),
        Canned::json(200, r#"{"request_id":"r"}"#),
    ])
    .await;
    let p = DashScope::new();
    let ctx = server.ctx(Some(KEY));
    let s = accepted(spec("a"));
    let next = async || p.submit(&ctx, &s).await.unwrap_err();

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Auth, false));
    assert_eq!(
        e.message,
        "dashscope: HTTP 401: InvalidApiKey: No API-key provided."
    );
    assert_eq!(e.request_id.as_deref(), Some("r401"));
    assert_no_key(&e);

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::InvalidParams, false));
    assert!(e.message.contains("does not support synchronous calls"));

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::ContentPolicy, false));

    let e = next().await;
    assert_eq!(
        (e.kind, e.retryable),
        (JobErrorKind::InsufficientCredits, false)
    );

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::InvalidParams, false));
    assert!(e.message.contains("n must be 1-4"));

    let e = next().await;
    assert_eq!(e.kind, JobErrorKind::Quota);
    assert!(e.retryable && e.rate_limited);
    assert!(!e.maybe_accepted, "a 429 is a refusal");
    assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
    assert_eq!(e.request_id.as_deref(), Some("r429"));

    let e = next().await;
    assert_eq!(e.kind, JobErrorKind::Quota);
    assert!(e.retryable && e.rate_limited);
    assert!(e.retry_after.unwrap() >= Duration::from_secs(60));
    assert!(
        e.message
            .contains("Throttling.AllocationQuota: Free allocated quota exceeded."),
        "{}",
        e.message
    );

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
    assert!(
        e.maybe_accepted,
        "a 5xx may come after the task was created"
    );
    assert_eq!(e.request_id.as_deref(), Some("r5"));

    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
    assert!(e.message.contains("not the expected JSON"), "{}", e.message);
    assert!(
        e.maybe_accepted,
        "an unreadable 2xx may have created the task"
    );

    // Valid JSON without a task id is no better than broken JSON.
    let e = next().await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
}

#[tokio::test]
async fn poll_errors_keep_the_request_id() {
    let server = TestServer::start(vec![
        Canned::json(
            401,
            r#"{"code":"InvalidApiKey","message":"Invalid API-key provided.","request_id":"r1"}"#,
        ),
        Canned::json(500, "internal error"),
        Canned::json(200, "not json"),
    ])
    .await;
    let p = DashScope::new();
    let ctx = server.ctx(Some(KEY));
    let e = p.poll(&ctx, "t").await.unwrap_err();
    assert_eq!(
        (e.kind, e.request_id.as_deref()),
        (JobErrorKind::Auth, Some("r1"))
    );
    assert_no_key(&e);
    let e = p.poll(&ctx, "t").await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
    assert_eq!(e.message, "dashscope: HTTP 500: internal error");
    let e = p.poll(&ctx, "t").await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
}

#[tokio::test]
async fn cancel_posts_to_the_task() {
    let server = TestServer::start(vec![Canned::json(200, r#"{"request_id":"r"}"#)]).await;
    DashScope::new()
        .cancel(&server.ctx(Some(KEY)), "t9")
        .await
        .unwrap();
    let req = server.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/v1/tasks/t9/cancel");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn defaults_and_registration() {
    let registry = crate::providers::Registry::builtin();
    let p = registry.get(NAME).unwrap();
    assert_eq!(p.default_base_url(), "https://dashscope.aliyuncs.com");
    assert_eq!(p.key_env_vars(), &["DASHSCOPE_API_KEY"]);
    let limits = p.default_limits();
    assert_eq!(
        (limits.max_concurrent, limits.requests_per_second),
        (2, 2.0)
    );
    assert_eq!(p.typical_duration(&spec("a")), Duration::from_secs(60));
    assert_eq!(p.last_quota(), None);
}
