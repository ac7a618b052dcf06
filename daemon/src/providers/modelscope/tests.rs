use super::*;
use crate::catalog::seed::entries_of;
use crate::providers::test_server::{Canned, TestServer};
use genq_protocol::{Lora, Size};
use serde_json::json;

const KEY: &str = "ms-secret-key-0123";

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

fn lora(repo: &str, weight: f64) -> Lora {
    Lora {
        repo: repo.into(),
        weight,
    }
}

fn refused(mut s: JobSpec) -> InvalidParam {
    ModelScope::new()
        .validate(&mut s, &entries_of(NAME))
        .unwrap_err()
}

fn accepted(mut s: JobSpec) -> JobSpec {
    assert_eq!(
        ModelScope::new().validate(&mut s, &entries_of(NAME)),
        Ok(JobKind::Image)
    );
    s
}

fn with_model(model: &str, s: JobSpec) -> JobSpec {
    JobSpec {
        model: Some(model.into()),
        ..s
    }
}

/// The error never carries the key, in its message or its Debug form.
fn assert_no_key(e: &ProviderError) {
    assert!(!e.message.contains(KEY), "{}", e.message);
    assert!(!format!("{e:?}").contains(KEY));
}

// ---- validation ----

#[test]
fn the_default_model_is_filled_in() {
    let s = accepted(spec("a cat"));
    assert_eq!(s.model.as_deref(), Some("Qwen/Qwen-Image"));
}

#[test]
fn prompts_must_be_present_and_short_enough() {
    let e = refused(spec("   "));
    assert_eq!(e.field, "prompt");
    assert!(e.message.contains("empty"));

    accepted(spec(&"x".repeat(1999)));
    let e = refused(spec(&"x".repeat(2000)));
    assert_eq!(e.field, "prompt");
    assert_eq!(e.allowed.as_deref(), Some("at most 1999 characters"));

    let e = refused(JobSpec {
        negative_prompt: Some("y".repeat(2000)),
        ..spec("a cat")
    });
    assert_eq!(e.field, "negative_prompt");
}

#[test]
fn sizes_follow_the_model_family() {
    accepted(JobSpec {
        size: size(1664, 64),
        ..spec("a cat")
    });
    let e = refused(JobSpec {
        size: size(1700, 1024),
        ..spec("a cat")
    });
    assert_eq!(e.field, "size");
    assert!(
        e.message.contains("1700x1024") && e.message.contains("qwen-image"),
        "{}",
        e.message
    );
    assert_eq!(
        e.allowed.as_deref(),
        Some("64x64 to 1664x1664 (each side 64–1664)")
    );

    let flux = |w, h| {
        with_model(
            "black-forest-labs/FLUX.1-Krea-dev",
            JobSpec {
                size: size(w, h),
                ..spec("a")
            },
        )
    };
    accepted(flux(1024, 1024));
    assert!(
        refused(flux(1025, 1024))
            .allowed
            .unwrap()
            .contains("1024x1024")
    );
    let majic = with_model(
        "MAILAND/majicflus_v1",
        JobSpec {
            size: size(1280, 1024),
            ..spec("a")
        },
    );
    assert_eq!(refused(majic).field, "size");

    let z = |w, h| {
        with_model(
            "Tongyi-MAI/Z-Image-Turbo",
            JobSpec {
                size: size(w, h),
                ..spec("a")
            },
        )
    };
    accepted(z(2048, 512));
    assert_eq!(refused(z(511, 1024)).field, "size");

    // Unknown ids are catalog data: allowed with the generic (SD) range.
    let other = |w, h| {
        with_model(
            "someone/new-model",
            JobSpec {
                size: size(w, h),
                ..spec("a")
            },
        )
    };
    accepted(other(2048, 2048));
    assert!(
        refused(other(2049, 64))
            .allowed
            .unwrap()
            .contains("2048x2048")
    );
}

#[test]
fn model_ids_must_look_like_owner_name() {
    for bad in ["Qwen-Image", "a/b/c", "qwen image/x", ""] {
        let e = refused(with_model(bad, spec("a")));
        assert_eq!(e.field, "model", "{bad}");
        assert!(e.allowed.unwrap().contains("Qwen/Qwen-Image"));
    }
}

#[test]
fn seed_steps_and_guidance_ranges() {
    accepted(JobSpec {
        seed: Some(2_147_483_647),
        steps: Some(100),
        guidance: Some(1.5),
        ..spec("a")
    });
    for (s, field) in [
        (
            JobSpec {
                seed: Some(-1),
                ..spec("a")
            },
            "seed",
        ),
        (
            JobSpec {
                seed: Some(2_147_483_648),
                ..spec("a")
            },
            "seed",
        ),
        (
            JobSpec {
                steps: Some(0),
                ..spec("a")
            },
            "steps",
        ),
        (
            JobSpec {
                steps: Some(101),
                ..spec("a")
            },
            "steps",
        ),
        (
            JobSpec {
                guidance: Some(1.4),
                ..spec("a")
            },
            "guidance",
        ),
        (
            JobSpec {
                guidance: Some(20.5),
                ..spec("a")
            },
            "guidance",
        ),
        (
            JobSpec {
                guidance: Some(f64::NAN),
                ..spec("a")
            },
            "guidance",
        ),
    ] {
        let e = refused(s);
        assert_eq!(e.field, field);
        assert!(e.allowed.is_some(), "{field}");
    }
    let e = refused(JobSpec {
        seed: Some(-1),
        ..spec("a")
    });
    assert_eq!(e.allowed.as_deref(), Some("0–2147483647"));
    assert!(e.message.contains("leave the seed out"));
}

#[test]
fn loras_follow_the_count_and_weight_rules() {
    accepted(JobSpec {
        loras: vec![lora("a/x", 1.0)],
        ..spec("a")
    });
    accepted(JobSpec {
        loras: vec![lora("a/x", 0.7), lora("b/y", 0.3)],
        ..spec("a")
    });
    let e = refused(JobSpec {
        loras: vec![lora("a/x", 0.7), lora("b/y", 0.4)],
        ..spec("a")
    });
    assert_eq!(e.field, "loras");
    assert!(
        e.message.contains("sum to 1.1") && e.message.contains("normalise"),
        "{}",
        e.message
    );
    let seven = (0..7)
        .map(|i| lora(&format!("o/l{i}"), 1.0 / 7.0))
        .collect();
    assert_eq!(
        refused(JobSpec {
            loras: seven,
            ..spec("a")
        })
        .field,
        "loras"
    );
    let e = refused(JobSpec {
        loras: vec![lora("a/x", 0.4)],
        ..spec("a")
    });
    assert_eq!(e.field, "loras[0].weight");
}

#[test]
fn a_local_image_is_refused_with_a_clear_message() {
    let edit = |image: Option<&str>| {
        with_model(
            "Qwen/Qwen-Image-Edit-2509",
            JobSpec {
                image: image.map(str::to_string),
                ..spec("make it blue")
            },
        )
    };
    accepted(edit(Some("https://example.com/in.png")));
    for local in [
        "./photo.png",
        "/home/me/photo.png",
        "file:///home/me/photo.png",
        "C:\\photo.png",
    ] {
        let e = refused(edit(Some(local)));
        assert_eq!(e.field, "image");
        assert!(e.message.contains("not a URL"), "{}", e.message);
        assert!(e.message.contains("pass its http(s) URL"), "{}", e.message);
        assert_eq!(
            e.allowed.as_deref(),
            Some("a public http:// or https:// URL")
        );
    }
    let e = refused(edit(None));
    assert_eq!(e.field, "image");
    assert!(e.message.contains("edits an image"));
    // Text-to-image models take no image; the message names the ones that do.
    let e = refused(JobSpec {
        image: Some("https://example.com/in.png".into()),
        ..spec("a")
    });
    assert_eq!(e.field, "image");
    assert!(e.allowed.unwrap().contains("Qwen/Qwen-Image-Edit"));
    accepted(with_model(
        "black-forest-labs/FLUX.1-Kontext-dev",
        JobSpec {
            image: Some("http://example.com/a.jpg".into()),
            ..spec("a")
        },
    ));
}

#[test]
fn n_above_one_is_refused_and_other_extras_too() {
    accepted(JobSpec {
        n: Some(1),
        ..spec("a")
    });
    let e = refused(JobSpec {
        n: Some(3),
        ..spec("a")
    });
    assert_eq!(e.field, "n");
    assert!(e.message.contains("one image per task") && e.message.contains("submit 3 jobs"));
    let mut s = spec("a");
    s.params.insert("sampler".into(), json!("euler"));
    let e = refused(s);
    assert_eq!(e.field, "params.sampler");
    assert_eq!(e.allowed.as_deref(), Some("none"));
    let e = refused(JobSpec {
        kind: Some(JobKind::Model3d),
        ..spec("a")
    });
    assert_eq!(e.field, "kind");
    let mut s = spec("a");
    s.views
        .insert("front".into(), "https://example.com/f.png".into());
    assert_eq!(refused(s).field, "views");
}

// ---- HTTP ----

#[tokio::test]
async fn submit_sends_the_documented_headers_and_body() {
    let server = TestServer::start(vec![Canned::json(
        200,
        r#"{"task_id":"5f2c0c1e-uuid","request_id":"req-1","task_status":"SUCCEED"}"#,
    )])
    .await;
    let mut s = JobSpec {
        negative_prompt: Some("blurry".into()),
        size: size(1328, 1328),
        steps: Some(30),
        seed: Some(12345),
        guidance: Some(4.0),
        loras: vec![
            lora("merjic/majicbeauty-qwen1", 0.7),
            lora("DiffSynth-Studio/Qwen-Image-Distill-LoRA", 0.3),
        ],
        ..spec("a portrait, soft window light")
    };
    let provider = ModelScope::new();
    provider.validate(&mut s, &entries_of(NAME)).unwrap();
    let submitted = provider.submit(&server.ctx(Some(KEY)), &s).await.unwrap();
    // `task_status: SUCCEED` in the submit reply only means accepted.
    assert_eq!(
        submitted,
        Submitted {
            remote_id: "5f2c0c1e-uuid".into(),
            request_id: Some("req-1".into())
        }
    );

    let req = server.only_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/images/generations");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(req.header("x-modelscope-async-mode"), Some("true"));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("x-modelscope-task-type"), None);
    assert_eq!(
        req.json(),
        json!({
            "model": "Qwen/Qwen-Image",
            "prompt": "a portrait, soft window light",
            "negative_prompt": "blurry",
            "size": "1328x1328",
            "seed": 12345,
            "steps": 30,
            "guidance": 4.0,
            "loras": {"merjic/majicbeauty-qwen1": 0.7, "DiffSynth-Studio/Qwen-Image-Distill-LoRA": 0.3}
        })
    );
}

#[tokio::test]
async fn one_lora_is_sent_as_a_string_and_numeric_task_ids_are_kept_as_text() {
    let server = TestServer::start(vec![Canned::json(
        200,
        r#"{"task_id":4213726,"request_id":"r"}"#,
    )])
    .await;
    let s = with_model(
        "Qwen/Qwen-Image-Edit-2511",
        JobSpec {
            loras: vec![lora("someone/style", 1.0)],
            image: Some("https://example.com/in.png".into()),
            ..spec("edit")
        },
    );
    let s = accepted(s);
    let submitted = ModelScope::new()
        .submit(&server.ctx(Some(KEY)), &s)
        .await
        .unwrap();
    assert_eq!(submitted.remote_id, "4213726");
    assert_eq!(
        server.only_request().json(),
        json!({"model": "Qwen/Qwen-Image-Edit-2511", "prompt": "edit",
               "image_url": "https://example.com/in.png", "loras": "someone/style"})
    );
}

#[tokio::test]
async fn a_missing_key_fails_as_auth_without_any_request() {
    let server = TestServer::start(vec![]).await;
    let p = ModelScope::new();
    let ctx = server.ctx(None);
    let e = p.submit(&ctx, &accepted(spec("a"))).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Auth);
    assert!(!e.retryable);
    assert!(e.message.contains("MODELSCOPE_API_TOKEN"), "{}", e.message);
    assert!(
        e.message.contains("[providers.modelscope]"),
        "{}",
        e.message
    );
    let e = p.poll(&ctx, "t1").await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Auth);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn poll_sends_the_task_type_header_and_reads_running() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"task_id":"t/1","request_id":"r","task_status":"PROCESSING","outputs":{}}"#,
        ),
        Canned::json(200, r#"{"task_id":"t/1","task_status":"PENDING"}"#),
        Canned::json(200, r#"{"task_id":"t/1","task_status":"SOMETHING_NEW"}"#),
        Canned::json(200, r#"{"task_id":"t/1"}"#),
    ])
    .await;
    let p = ModelScope::new();
    let ctx = server.ctx(Some(KEY));
    for _ in 0..4 {
        assert_eq!(
            p.poll(&ctx, "t/1").await.unwrap(),
            PollStatus::Pending {
                progress: None,
                eta: None
            }
        );
    }
    let req = &server.requests()[0];
    assert_eq!(req.method, "GET");
    assert_eq!(req.path, "/v1/tasks/t%2F1");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        req.header("x-modelscope-task-type"),
        Some("image_generation")
    );
    assert_eq!(req.header("x-modelscope-async-mode"), None);
}

#[tokio::test]
async fn poll_reads_success_in_each_spelling() {
    let mut replies = Vec::new();
    for status in ["SUCCEED", "SUCCEEDED", "SUCCESS"] {
        replies.push(Canned::json(
            200,
            &format!(
                r#"{{"task_id":"t","request_id":"req-9","task_status":"{status}","output_images":["https://oss.example/result.jpg?sig=1"]}}"#
            ),
        ));
    }
    let server = TestServer::start(replies).await;
    let p = ModelScope::new();
    for _ in 0..3 {
        let got = p.poll(&server.ctx(Some(KEY)), "t").await.unwrap();
        assert_eq!(
            got,
            PollStatus::Succeeded {
                outputs: vec![RemoteOutput {
                    url: "https://oss.example/result.jpg?sig=1".into(),
                    role: OutputRole::Image,
                    format: Some("jpg".into()),
                    label: None,
                }],
                failures: vec![],
                request_id: Some("req-9".into()),
                created_at: None,
                finished_at: None,
            }
        );
    }
}

#[tokio::test]
async fn poll_failures_are_classified() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"task_status":"FAILED","errors":{"code":422,"message":"Output data may contain inappropriate content."},"request_id":"req-422"}"#,
        ),
        Canned::json(200, r#"{"task_status":"UNKNOWN","request_id":"req-u"}"#),
        Canned::json(200, r#"{"task_status":"CANCEL","errors":{"message":"canceled by system"}}"#),
        Canned::json(200, r#"{"task_status":"SUCCEED","output_images":[]}"#),
    ])
    .await;
    let p = ModelScope::new();
    let ctx = server.ctx(Some(KEY));
    let fail = |s: PollStatus| match s {
        PollStatus::Failed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    };
    let e = fail(p.poll(&ctx, "t").await.unwrap());
    assert_eq!(e.kind, JobErrorKind::ContentPolicy);
    assert!(!e.retryable);
    assert!(e.message.contains("inappropriate content"), "{}", e.message);
    assert_eq!(e.request_id.as_deref(), Some("req-422"));

    let e = fail(p.poll(&ctx, "t").await.unwrap());
    assert_eq!(e.kind, JobErrorKind::Provider);
    assert!(e.message.contains("UNKNOWN"), "{}", e.message);
    assert_eq!(e.request_id.as_deref(), Some("req-u"));

    let e = fail(p.poll(&ctx, "t").await.unwrap());
    assert!(e.message.contains("CANCEL") && e.message.contains("canceled by system"));

    let e = fail(p.poll(&ctx, "t").await.unwrap());
    assert!(e.message.contains("no output_images"), "{}", e.message);
}

#[tokio::test]
async fn task_not_found_right_after_submit_is_retryable() {
    let server = TestServer::start(vec![
        Canned::json(
            200,
            r#"{"errors":{"code":500,"message":"task not found"},"task_status":"FAILED"}"#,
        ),
        Canned::json(
            500,
            r#"{"errors":{"code":500,"message":"task not found","request_id":"rq"}}"#,
        ),
    ])
    .await;
    let p = ModelScope::new();
    let ctx = server.ctx(Some(KEY));
    for want_rid in [None, Some("rq")] {
        let e = p.poll(&ctx, "abc").await.unwrap_err();
        assert_eq!(e.kind, JobErrorKind::NotFound);
        assert!(e.retryable);
        assert!(!e.rate_limited);
        assert!(
            e.message.contains("abc") && e.message.contains("not found"),
            "{}",
            e.message
        );
        assert_eq!(e.request_id.as_deref(), want_rid);
    }
}

#[tokio::test]
async fn http_errors_are_classified() {
    let server = TestServer::start(vec![
        Canned::json(401, r#"{"errors":{"message":"Invalid token"},"request_id":"r401"}"#),
        Canned::json(
            400,
            r#"{"errors":{"message":"image-gen task currently does not support synchronous calls. Please refer to the documentation and set header X-ModelScope-Async-Mode=true to switch to asynchronous calling mode"},"request_id":"r400"}"#,
        ),
        Canned::json(422, r#"{"errors":{"message":"Input data may contain inappropriate content."}}"#),
        Canned::json(502, "<html><body>Bad gateway</body></html>"),
        Canned::json(200, r#"{"task_id": "t1", "request_"#),
        Canned::json(403, ""),
    ])
    .await;
    let p = ModelScope::new();
    let ctx = server.ctx(Some(KEY));
    let s = accepted(spec("a"));

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Auth, false));
    assert_eq!(e.message, "modelscope: HTTP 401: Invalid token");
    assert_eq!(e.request_id.as_deref(), Some("r401"));
    assert!(!e.maybe_accepted, "a 4xx is a refusal");
    assert_no_key(&e);

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::InvalidParams, false));
    assert!(e.message.contains("X-ModelScope-Async-Mode=true"));

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::ContentPolicy, false));

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
    assert!(
        e.message.contains("HTTP 502") && e.message.contains("Bad gateway"),
        "{}",
        e.message
    );
    assert!(
        e.maybe_accepted,
        "a 5xx may come after the task was created"
    );

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Provider, true));
    assert!(e.message.contains("not the expected JSON"), "{}", e.message);
    assert!(
        e.maybe_accepted,
        "an unreadable 2xx may have created the task"
    );

    let e = p.poll(&ctx, "t").await.unwrap_err();
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Auth, false));
    assert_eq!(e.message, "modelscope: HTTP 403: Forbidden");
    assert_no_key(&e);
}

#[tokio::test]
async fn a_429_slows_the_provider_and_records_the_quota_headers() {
    let server = TestServer::start(vec![
        Canned::json(200, r#"{"task_id":"t1","request_id":"r"}"#)
            .header("modelscope-ratelimit-requests-limit", "2000")
            .header("modelscope-ratelimit-requests-remaining", "1500")
            .header("modelscope-ratelimit-model-requests-limit", "200")
            .header("modelscope-ratelimit-model-requests-remaining", "180"),
        Canned::json(
            429,
            r#"{"errors":{"message":"Request limit exceeded.","request_id":"30da26a6"}}"#,
        )
        .header("retry-after", "7")
        .header("modelscope-ratelimit-requests-limit", "2000")
        .header("modelscope-ratelimit-requests-remaining", "0"),
        Canned::json(429, r#"{"errors":{"message":"Request limit exceeded."}}"#),
        Canned::json(429, r#"{"errors":{"message":"Request limit exceeded."}}"#)
            .header("modelscope-ratelimit-model-requests-limit", "200")
            .header("modelscope-ratelimit-model-requests-remaining", "0"),
    ])
    .await;
    let p = ModelScope::new();
    let ctx = server.ctx(Some(KEY));
    assert_eq!(p.last_quota(), None);
    let s = accepted(spec("a"));
    p.submit(&ctx, &s).await.unwrap();
    let q = p.last_quota().unwrap();
    assert_eq!((q.remaining, q.limit), (Some(180), Some(200)));
    assert_eq!(
        q.detail.as_deref(),
        Some("requests today: user 1500 of 2000 left, model 180 of 200 left")
    );

    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Quota);
    assert!(e.retryable && e.rate_limited);
    assert_eq!(e.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(e.request_id.as_deref(), Some("30da26a6"));
    assert!(e.message.contains("Request limit exceeded."));
    assert_eq!(p.last_quota().unwrap().remaining, Some(0));

    // Without headers: still retryable and rate-limited, no wait imposed; old figures kept.
    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert!(e.retryable && e.rate_limited);
    assert_eq!(e.retry_after, None);
    assert_eq!(p.last_quota().unwrap().remaining, Some(0));

    // A spent daily allowance without Retry-After: wait a long while, not a second.
    let e = p.submit(&ctx, &s).await.unwrap_err();
    assert_eq!(e.retry_after, Some(SPENT_QUOTA_WAIT));
}

#[tokio::test]
async fn quota_reads_the_balance_endpoint() {
    let server = TestServer::start(vec![Canned::json(
        200,
        r#"{"success":true,"request_id":"r","data":{"total_balance":250,"available_balance":248,"frozen_amount":2}}"#,
    )])
    .await;
    let q = ModelScope::new()
        .quota(&server.ctx(Some(KEY)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(q.remaining, Some(248));
    assert_eq!(
        q.detail.as_deref(),
        Some("248 points (魔粒) available of 250, 2 held by running tasks")
    );
    let req = server.only_request();
    assert_eq!(req.path, "/openapi/v1/magicubes/balance");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[test]
fn defaults_and_registration() {
    let registry = crate::providers::Registry::builtin();
    let p = registry.get(NAME).unwrap();
    assert_eq!(p.default_base_url(), "https://api-inference.modelscope.cn");
    assert_eq!(
        p.key_env_vars(),
        &["MODELSCOPE_API_TOKEN", "MODELSCOPE_API_KEY"]
    );
    let limits = p.default_limits();
    assert_eq!(limits.max_concurrent, 1);
    assert_eq!(limits.timeout, Duration::from_secs(900));
    assert_eq!(p.typical_duration(&spec("a")), Duration::from_secs(30));
}
