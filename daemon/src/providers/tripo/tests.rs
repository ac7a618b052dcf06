use super::*;
use crate::catalog::seed::entries_of;
use crate::providers::test_server::{Canned, TestServer};
use std::collections::BTreeMap;

const KEY: &str = "tsk_secret-key-0123";

fn spec(prompt: &str) -> JobSpec {
    JobSpec {
        provider: NAME.into(),
        prompt: prompt.into(),
        ..JobSpec::default()
    }
}

fn with_params(mut s: JobSpec, params: &[(&str, Value)]) -> JobSpec {
    for (k, v) in params {
        s.params.insert((*k).into(), v.clone());
    }
    s
}

fn refused(mut s: JobSpec) -> InvalidParam {
    Tripo::new()
        .validate(&mut s, &entries_of(NAME))
        .unwrap_err()
}

fn accepted(mut s: JobSpec) -> JobSpec {
    assert_eq!(
        Tripo::new().validate(&mut s, &entries_of(NAME)),
        Ok(JobKind::Model3d)
    );
    s
}

/// A PNG of this size in `dir`, returned as an absolute path string.
fn png(dir: &Path, name: &str, w: u32, h: u32) -> String {
    let path = dir.join(name);
    image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]))
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    path.display().to_string()
}

fn ok(data: Value) -> Canned {
    Canned::json(200, &json!({"code": 0, "data": data}).to_string())
        .header(TRACE_HEADER, "trace-ok")
}

fn err(status: u16, code: i64, message: &str) -> Canned {
    Canned::json(
        status,
        &json!({"code": code, "message": message, "suggestion": "try later"}).to_string(),
    )
    .header(TRACE_HEADER, &format!("trace-{code}"))
}

fn assert_no_key(e: &ProviderError) {
    assert!(!e.message.contains(KEY), "{}", e.message);
    assert!(!format!("{e:?}").contains(KEY));
}

// ---- validation ----

#[test]
fn a_text_job_gets_the_default_version_and_model3d_kind() {
    let s = accepted(spec("a ceramic teapot"));
    assert_eq!(s.model.as_deref(), Some("v2.5-20250123"));
    let s = accepted(with_params(
        spec("a teapot"),
        &[("model_version", json!("v3.0-20250812"))],
    ));
    assert_eq!(s.model.as_deref(), Some("v3.0-20250812"));

    let e = refused(JobSpec {
        kind: Some(JobKind::Image),
        ..spec("a teapot")
    });
    assert_eq!(e.field, "kind");
    assert_eq!(e.allowed.as_deref(), Some("model3d"));
}

#[test]
fn unknown_versions_are_refused_naming_the_known_ones() {
    let e = refused(with_params(
        spec("a"),
        &[("model_version", json!("v9.9-20990101"))],
    ));
    assert_eq!(e.field, "params.model_version");
    let allowed = e.allowed.unwrap();
    for v in ["v2.5-20250123", "v3.0-20250812", "Turbo-v1.0-20250506"] {
        assert!(allowed.contains(v), "{allowed}");
    }
    let e = refused(JobSpec {
        model: Some("v1.3-20240522".into()),
        ..spec("a")
    });
    assert_eq!(e.field, "model");
    assert!(e.message.contains("deprecated"), "{}", e.message);
    let e = refused(with_params(
        JobSpec {
            model: Some("v3.0-20250812".into()),
            ..spec("a")
        },
        &[("model_version", json!("v2.5-20250123"))],
    ));
    assert!(e.message.contains("differs"), "{}", e.message);
}

#[test]
fn prompt_lengths_follow_the_reference() {
    accepted(spec(&"x".repeat(1024)));
    let e = refused(spec(&"x".repeat(1025)));
    assert_eq!(e.field, "prompt");
    assert_eq!(e.allowed.as_deref(), Some("at most 1024 characters"));
    accepted(JobSpec {
        negative_prompt: Some("n".repeat(255)),
        ..spec("a")
    });
    let e = refused(JobSpec {
        negative_prompt: Some("n".repeat(256)),
        ..spec("a")
    });
    assert_eq!(e.field, "negative_prompt");
    let e = refused(spec("  "));
    assert_eq!(e.field, "prompt");
    assert!(
        e.message.contains("prompt, an image, or views"),
        "{}",
        e.message
    );
}

#[test]
fn options_are_checked_by_type_and_value() {
    let s = accepted(with_params(
        spec("a"),
        &[
            ("texture", json!("true")),
            ("pbr", json!(true)),
            ("texture_quality", json!("detailed")),
            ("face_limit", json!("5000")),
            ("quad", json!("FALSE")),
            ("compress", json!("geometry")),
            ("model_seed", json!(7)),
        ],
    ));
    assert_eq!(s.params["texture"], json!(true));
    assert_eq!(s.params["face_limit"], json!(5000));
    assert_eq!(s.params["quad"], json!(false));

    let e = refused(with_params(
        spec("a"),
        &[("texture_quality", json!("ultra"))],
    ));
    assert_eq!(e.field, "params.texture_quality");
    assert_eq!(e.allowed.as_deref(), Some("standard, detailed"));
    let e = refused(with_params(spec("a"), &[("pbr", json!(3))]));
    assert_eq!(e.field, "params.pbr");
    assert_eq!(e.allowed.as_deref(), Some("true or false"));
    let e = refused(with_params(spec("a"), &[("face_limit", json!(0))]));
    assert_eq!(e.field, "params.face_limit");
    let e = refused(with_params(spec("a"), &[("texture_seed", json!(-1))]));
    assert_eq!(e.field, "params.texture_seed");
    let e = refused(with_params(spec("a"), &[("facelimit", json!(10))]));
    assert_eq!(e.field, "params.facelimit");
    assert!(e.allowed.unwrap().contains("face_limit"));
    // Image-only options on a text job.
    let e = refused(with_params(
        spec("a"),
        &[("orientation", json!("align_image"))],
    ));
    assert_eq!(e.field, "params.orientation");
    // geometry_quality needs v3.0 or later.
    let e = refused(with_params(
        spec("a"),
        &[("geometry_quality", json!("detailed"))],
    ));
    assert_eq!(e.field, "params.geometry_quality");
    accepted(with_params(
        spec("a"),
        &[
            ("geometry_quality", json!("detailed")),
            ("model_version", json!("v3.0-20250812")),
        ],
    ));
    // texture=false turns pbr off too, unless pbr=true contradicts it.
    let s = accepted(with_params(spec("a"), &[("texture", json!(false))]));
    assert_eq!(s.params["pbr"], json!(false));
    let e = refused(with_params(
        spec("a"),
        &[("texture", json!(false)), ("pbr", json!(true))],
    ));
    assert_eq!(e.field, "params.pbr");
}

#[test]
fn other_spec_fields_are_refused() {
    use genq_protocol::Size;
    let e = refused(JobSpec {
        size: Some(Size {
            width: 512,
            height: 512,
        }),
        ..spec("a")
    });
    assert_eq!(e.field, "size");
    assert_eq!(
        refused(JobSpec {
            n: Some(2),
            ..spec("a")
        })
        .field,
        "n"
    );
    assert_eq!(
        refused(JobSpec {
            steps: Some(3),
            ..spec("a")
        })
        .field,
        "steps"
    );
    assert_eq!(
        refused(JobSpec {
            seed: Some(-5),
            ..spec("a")
        })
        .field,
        "seed"
    );
}

#[test]
fn local_images_are_checked_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let good = png(dir.path(), "good.png", 64, 48);
    let s = accepted(JobSpec {
        image: Some(good.clone()),
        ..spec("")
    });
    assert_eq!(TaskType::of(&s), TaskType::ImageToModel);

    let small = png(dir.path(), "small.png", 19, 64);
    let e = refused(JobSpec {
        image: Some(small),
        ..spec("")
    });
    assert_eq!(e.field, "image");
    assert!(
        e.message.contains("19x64") && e.message.contains("20–6000"),
        "{}",
        e.message
    );

    let text = dir.path().join("notes.png");
    std::fs::write(&text, "not an image at all").unwrap();
    let e = refused(JobSpec {
        image: Some(text.display().to_string()),
        ..spec("")
    });
    assert!(
        e.message.contains("not a JPEG, PNG or WebP"),
        "{}",
        e.message
    );

    let e = refused(JobSpec {
        image: Some(dir.path().join("gone.png").display().to_string()),
        ..spec("")
    });
    assert!(e.message.contains("gone.png"), "{}", e.message);

    let e = refused(JobSpec {
        image: Some("relative.png".into()),
        ..spec("")
    });
    assert!(e.message.contains("absolute"), "{}", e.message);

    // A prompt with an image is a mistake, not a text job.
    let e = refused(JobSpec {
        image: Some(good),
        ..spec("a teapot")
    });
    assert_eq!(e.field, "prompt");

    accepted(JobSpec {
        image: Some("https://img.example/in.png".into()),
        ..spec("")
    });
}

#[test]
fn views_need_front_and_one_more_and_known_names() {
    let dir = tempfile::tempdir().unwrap();
    let img = png(dir.path(), "v.png", 32, 32);
    let views = |names: &[&str]| -> BTreeMap<String, String> {
        names
            .iter()
            .map(|n| ((*n).to_string(), img.clone()))
            .collect()
    };
    let s = accepted(JobSpec {
        views: views(&["front", "back"]),
        ..spec("")
    });
    assert_eq!(TaskType::of(&s), TaskType::MultiviewToModel);
    let e = refused(JobSpec {
        views: views(&["front", "top"]),
        ..spec("")
    });
    assert_eq!(e.field, "views.top");
    assert_eq!(e.allowed.as_deref(), Some("front, left, back, right"));
    let e = refused(JobSpec {
        views: views(&["left", "back"]),
        ..spec("")
    });
    assert_eq!(e.field, "views.front");
    let e = refused(JobSpec {
        views: views(&["front"]),
        ..spec("")
    });
    assert_eq!(e.field, "views");
    let e = refused(JobSpec {
        views: views(&["front", "left"]),
        image: Some(img.clone()),
        ..spec("")
    });
    assert_eq!(e.field, "image");
}

// ---- submit ----

#[tokio::test]
async fn a_text_task_is_created_with_its_options_and_trace_id() {
    let server = TestServer::start(vec![ok(json!({"task_id": "t-1"}))]).await;
    let s = accepted(with_params(
        JobSpec {
            negative_prompt: Some("blurry".into()),
            seed: Some(42),
            ..spec("a ceramic teapot")
        },
        &[("texture", json!("true")), ("face_limit", json!(5000))],
    ));
    let sub = Tripo::new()
        .submit(&server.ctx(Some(KEY)), &s)
        .await
        .unwrap();
    assert_eq!(sub.remote_id, "t-1");
    assert_eq!(sub.request_id.as_deref(), Some("trace-ok"));
    let req = server.only_request();
    assert_eq!(req.path, "/task");
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        req.json(),
        json!({"type": "text_to_model", "prompt": "a ceramic teapot",
            "negative_prompt": "blurry", "model_version": "v2.5-20250123",
            "model_seed": 42, "texture": true, "face_limit": 5000})
    );
}

#[tokio::test]
async fn keys_without_the_tsk_prefix_are_refused_before_any_request() {
    let server = TestServer::start(vec![]).await;
    let s = accepted(spec("a"));
    let e = Tripo::new()
        .submit(&server.ctx(Some("sk-wrong-kind")), &s)
        .await
        .unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Auth);
    assert!(!e.retryable);
    assert!(
        e.message.contains("tsk_") && e.message.contains("TRIPO_API_KEY"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("sk-wrong-kind"));
    let e = Tripo::new().poll(&server.ctx(None), "t").await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Auth);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_local_image_is_uploaded_falling_back_to_upload_sts() {
    let dir = tempfile::tempdir().unwrap();
    let path = png(dir.path(), "in.png", 40, 30);
    let bytes = std::fs::read(&path).unwrap();
    let server = TestServer::start(vec![
        err(404, 404, "Not Found"),
        ok(json!({"image_token": "tok-1"})),
        ok(json!({"task_id": "t-img"})),
        // The second job goes straight to /upload/sts.
        ok(json!({"image_token": "tok-2"})),
        ok(json!({"task_id": "t-img-2"})),
    ])
    .await;
    let tripo = Tripo::new();
    let s = accepted(JobSpec {
        image: Some(path.clone()),
        ..spec("")
    });
    let ctx = server.ctx(Some(KEY));
    assert_eq!(tripo.submit(&ctx, &s).await.unwrap().remote_id, "t-img");
    assert_eq!(tripo.submit(&ctx, &s).await.unwrap().remote_id, "t-img-2");
    let reqs = server.requests();
    let paths: Vec<&str> = reqs.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/upload", "/upload/sts", "/task", "/upload/sts", "/task"]
    );
    let upload = &reqs[1];
    let ct = upload.header("content-type").unwrap();
    assert!(ct.starts_with("multipart/form-data; boundary="), "{ct}");
    let body = &upload.body;
    assert!(
        body.windows(bytes.len()).any(|w| w == bytes.as_slice()),
        "the file bytes are not in the multipart body"
    );
    let text = String::from_utf8_lossy(body);
    assert!(text.contains("name=\"file\""), "{text}");
    assert!(!text.contains("in.png"), "the local file name leaked");
    assert_eq!(
        reqs[2].json()["file"],
        json!({"type": "png", "file_token": "tok-1"})
    );
}

#[tokio::test]
async fn multiview_sends_four_slots_in_order_with_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let front = png(dir.path(), "f.png", 32, 32);
    let server = TestServer::start(vec![
        ok(json!({"image_token": "tok-front"})),
        ok(json!({"task_id": "t-mv"})),
    ])
    .await;
    let s = accepted(JobSpec {
        views: [
            ("front".to_string(), front),
            (
                "back".to_string(),
                "https://img.example/back.jpg".to_string(),
            ),
        ]
        .into(),
        ..spec("")
    });
    Tripo::new()
        .submit(&server.ctx(Some(KEY)), &s)
        .await
        .unwrap();
    let task = server.requests()[1].json();
    assert_eq!(task["type"], "multiview_to_model");
    assert_eq!(
        task["files"],
        json!([
            {"type": "png", "file_token": "tok-front"},
            {},
            {"type": "jpg", "url": "https://img.example/back.jpg"},
            {}
        ])
    );
}

#[tokio::test]
async fn error_codes_map_to_kinds() {
    let cases: Vec<(Canned, JobErrorKind, bool, bool)> = vec![
        (
            err(403, 2010, "not enough credit"),
            JobErrorKind::InsufficientCredits,
            false,
            false,
        ),
        (
            err(429, 2000, "You have exceeded the limit of generation"),
            JobErrorKind::Quota,
            true,
            true,
        ),
        (err(401, 1002, "bad key"), JobErrorKind::Auth, false, false),
        (
            err(403, 1005, "forbidden"),
            JobErrorKind::Auth,
            false,
            false,
        ),
        (
            err(400, 2008, "content"),
            JobErrorKind::ContentPolicy,
            false,
            false,
        ),
        (
            err(400, 2017, "bad version"),
            JobErrorKind::InvalidParams,
            false,
            false,
        ),
        (
            err(400, 2002, "unsupported type"),
            JobErrorKind::InvalidParams,
            false,
            false,
        ),
        (
            err(500, 1001, "server"),
            JobErrorKind::Provider,
            true,
            false,
        ),
        (err(500, 2014, "audit"), JobErrorKind::Provider, true, false),
        (
            err(404, 2001, "task not found"),
            JobErrorKind::NotFound,
            false,
            false,
        ),
        (
            Canned::json(502, "<html>bad gateway</html>"),
            JobErrorKind::Provider,
            true,
            false,
        ),
        (
            Canned::json(200, "{\"code\":0,\"da"),
            JobErrorKind::Provider,
            true,
            false,
        ),
    ];
    let expected: Vec<_> = cases.iter().map(|(_, k, r, l)| (*k, *r, *l)).collect();
    let server = TestServer::start(cases.into_iter().map(|(c, ..)| c).collect()).await;
    let s = accepted(spec("a"));
    let tripo = Tripo::new();
    for (i, (kind, retryable, rate_limited)) in expected.into_iter().enumerate() {
        let e = tripo.submit(&server.ctx(Some(KEY)), &s).await.unwrap_err();
        assert_eq!(e.kind, kind, "case {i}: {}", e.message);
        assert_eq!(e.retryable, retryable, "case {i}: {}", e.message);
        assert_eq!(e.rate_limited, rate_limited, "case {i}");
        // A server error or an unreadable 2xx may come after the task was created.
        let unsure = kind == JobErrorKind::Provider && retryable;
        assert_eq!(e.maybe_accepted, unsure, "case {i}: {}", e.message);
        assert_no_key(&e);
        if i == 0 {
            assert_eq!(e.request_id.as_deref(), Some("trace-2010"));
            assert!(
                e.message.contains("not enough credits") && e.message.contains("2010"),
                "{}",
                e.message
            );
        }
    }
}

// ---- poll ----

#[tokio::test]
async fn poll_reports_progress_and_eta() {
    let server = TestServer::start(vec![
        ok(json!({"task_id": "t", "status": "queued", "progress": 0, "queuing_num": 3})),
        ok(json!({"task_id": "t", "status": "running", "progress": 42, "running_left_time": 10})),
        ok(json!({"task_id": "t", "status": "something_new"})),
    ])
    .await;
    let ctx = server.ctx(Some(KEY));
    let tripo = Tripo::new();
    assert_eq!(
        tripo.poll(&ctx, "t").await.unwrap(),
        PollStatus::Pending {
            progress: Some(0),
            eta: None
        }
    );
    assert_eq!(
        tripo.poll(&ctx, "t").await.unwrap(),
        PollStatus::Pending {
            progress: Some(42),
            eta: Some(Duration::from_secs(10))
        }
    );
    assert!(matches!(
        tripo.poll(&ctx, "t").await.unwrap(),
        PollStatus::Pending { .. }
    ));
    assert_eq!(server.requests()[0].path, "/task/t");
}

#[tokio::test]
async fn success_lists_models_and_previews_and_ignores_unknown_keys() {
    let server = TestServer::start(vec![ok(json!({
        "task_id": "t", "status": "success", "progress": 100, "create_time": 1709048933,
        "output": {
            "model": "https://cdn.example/m/model.glb?sig=1",
            "pbr_model": "https://cdn.example/m/pbr",
            "rendered_image": "https://cdn.example/m/preview.webp",
            "generated_image": "https://cdn.example/m/gen.png",
            "riggable": true,
            "topology": "quad"
        }
    }))])
    .await;
    let PollStatus::Succeeded {
        outputs,
        request_id,
        created_at,
        ..
    } = Tripo::new()
        .poll(&server.ctx(Some(KEY)), "t")
        .await
        .unwrap()
    else {
        panic!("not a success")
    };
    assert_eq!(request_id.as_deref(), Some("trace-ok"));
    // `create_time` is unix seconds: the start of the generation time.
    assert_eq!(created_at.map(|t| t.unix_millis()), Some(1_709_048_933_000));
    let got: Vec<_> = outputs
        .iter()
        .map(|o| (o.label.as_deref().unwrap(), o.role, o.format.as_deref()))
        .collect();
    assert_eq!(
        got,
        [
            ("model", OutputRole::Model, Some("glb")),
            ("pbr_model", OutputRole::Model, Some("glb")),
            ("rendered_image", OutputRole::Preview, Some("webp")),
            ("generated_image", OutputRole::Image, Some("png")),
        ]
    );
}

#[tokio::test]
async fn quad_tasks_expect_fbx() {
    let server = TestServer::start(vec![
        ok(json!({"task_id": "tq"})),
        ok(json!({"task_id": "tq", "status": "success",
            "output": {"model": "https://cdn.example/m/abc"}})),
    ])
    .await;
    let tripo = Tripo::new();
    let ctx = server.ctx(Some(KEY));
    let s = accepted(with_params(spec("a"), &[("quad", json!(true))]));
    tripo.submit(&ctx, &s).await.unwrap();
    let PollStatus::Succeeded { outputs, .. } = tripo.poll(&ctx, "tq").await.unwrap() else {
        panic!("not a success")
    };
    assert_eq!(outputs[0].format.as_deref(), Some("fbx"));
}

#[tokio::test]
async fn final_statuses_are_classified() {
    let server = TestServer::start(vec![
        ok(json!({"task_id": "t", "status": "failed", "error_code": 1001,
            "error_msg": "generation failed", "queuing_num": -1, "running_left_time": -1})),
        ok(json!({"task_id": "t", "status": "banned"})),
        ok(json!({"task_id": "t", "status": "expired"})),
        ok(json!({"task_id": "t", "status": "cancelled"})),
        ok(json!({"task_id": "t", "status": "unknown"})),
        ok(json!({"task_id": "t", "status": "success", "output": {"rendered_image": "https://x/p.png"}})),
        err(404, 2001, "task not found"),
    ])
    .await;
    let ctx = server.ctx(Some(KEY));
    let tripo = Tripo::new();
    let mut failures = Vec::new();
    for _ in 0..6 {
        match tripo.poll(&ctx, "t").await.unwrap() {
            PollStatus::Failed(e) => failures.push(e),
            other => panic!("not a failure: {other:?}"),
        }
    }
    for e in &failures {
        assert!(!e.retryable, "{}", e.message);
        assert_eq!(e.request_id.as_deref(), Some("trace-ok"));
    }
    assert_eq!(failures[0].kind, JobErrorKind::Provider);
    assert!(
        failures[0]
            .message
            .contains("error_code 1001: generation failed"),
        "{}",
        failures[0].message
    );
    assert_eq!(failures[1].kind, JobErrorKind::ContentPolicy);
    assert!(failures[1].message.contains("banned"));
    assert!(failures[2].message.contains("expired"));
    assert!(failures[3].message.contains("cancelled"));
    assert!(failures[4].message.contains("unknown"));
    assert!(failures[5].message.contains("no model"));
    let e = tripo.poll(&ctx, "t").await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::NotFound);
}

#[tokio::test]
async fn quota_reads_balance_and_frozen() {
    let server = TestServer::start(vec![ok(json!({"balance": 1234.5, "frozen": 40}))]).await;
    let tripo = Tripo::new();
    assert_eq!(tripo.last_quota(), None);
    let q = tripo.quota(&server.ctx(Some(KEY))).await.unwrap().unwrap();
    assert_eq!(q.remaining, Some(1234));
    assert_eq!(q.detail.as_deref(), Some("balance 1234.5, frozen 40"));
    assert_eq!(server.only_request().path, "/user/balance");
    assert_eq!(tripo.last_quota(), Some(q));
}
