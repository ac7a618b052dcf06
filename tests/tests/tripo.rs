//! Tripo 3D through the CLI and the real daemon against the fake Tripo server: text, image
//! and multiview jobs end with a verified GLB and a preview on disk; expired links, the
//! 10-task limit, missing credits and bad local images are handled as the reference says.
//! The first tests drive the adaptor directly against the fake, to pin the wire contract.

use genq_daemon::providers::tripo::Tripo;
use genq_daemon::providers::{CallContext, PollStatus, Provider};
use genq_daemon::secret::Secret;
use genq_e2e::fakes::tripo::STS_BUCKET;
use genq_e2e::fakes::{Endpoint, TpOutcome, TpScript, TripoFake};
use genq_e2e::harness::{Home, PATIENCE, init_tls};
use genq_protocol::{JobErrorKind, JobSpec, Timestamp};
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;

fn ctx(fake: &TripoFake, key: &str) -> CallContext {
    init_tls();
    CallContext {
        http: reqwest::Client::new(),
        base_url: fake.base_url(),
        key: Some(Secret::new(key)),
        spool: std::env::temp_dir(),
    }
}

fn text_spec(prompt: &str) -> JobSpec {
    let mut spec = JobSpec {
        provider: "tripo".into(),
        prompt: prompt.into(),
        ..JobSpec::default()
    };
    Tripo::new().validate(&mut spec, &[]).unwrap();
    spec
}

fn write_png(dir: &Path, name: &str, w: u32, h: u32) -> String {
    let path = dir.join(name);
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 90]))
        .save_with_format(&path, image::ImageFormat::Png)
        .unwrap();
    path.display().to_string()
}

/// Submits a Tripo job with these arguments; returns its id.
async fn submit(home: &Home, args: &[&str]) -> String {
    let job = home.submit_job("tripo", args).await;
    job["id"].as_str().unwrap().to_string()
}

/// Waits for the job to end (3D tasks take their time) and returns it.
async fn finished(home: &Home, id: &str) -> Value {
    home.finished_within(id, PATIENCE * 2).await
}

/// Checks the header of a GLB file the way a loader would.
fn assert_glb(path: &str) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..4], b"glTF", "{path}");
    assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()), 2);
    assert_eq!(
        u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize,
        bytes.len(),
        "declared length"
    );
    assert_eq!(&bytes[16..20], b"JSON", "first chunk is JSON");
}

/// The job succeeded with a model GLB and a PNG preview on disk.
fn assert_model_and_preview(job: &Value) {
    assert_eq!(job["state"], "succeeded", "{job:#}");
    assert_eq!(job["kind"], "model3d");
    let outputs = job["outputs"].as_array().unwrap();
    let paths: Vec<&str> = outputs
        .iter()
        .map(|o| o["path"].as_str().expect("downloaded"))
        .collect();
    let glbs: Vec<_> = paths.iter().filter(|p| p.ends_with(".glb")).collect();
    assert!(!glbs.is_empty(), "no GLB among {paths:?}");
    for g in glbs {
        assert_glb(g);
    }
    let png = paths
        .iter()
        .find(|p| p.ends_with(".png"))
        .unwrap_or_else(|| panic!("no preview among {paths:?}"));
    let bytes = std::fs::read(png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"));
    for o in outputs {
        let on_disk = std::fs::metadata(o["path"].as_str().unwrap())
            .unwrap()
            .len();
        assert_eq!(o["size"].as_u64(), Some(on_disk), "{o}");
        assert!(on_disk > 20);
    }
}

// ---- the adaptor against the fake ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_enforces_the_task_limit_keys_and_credits() {
    let fake = TripoFake::start().await;
    fake.set_duration(Duration::from_secs(600));
    let tripo = Tripo::new();
    let c = ctx(&fake, &fake.key());
    let spec = text_spec("a teapot");
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(tripo.submit(&c, &spec).await.unwrap().remote_id);
    }
    let e = tripo.submit(&c, &spec).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Quota);
    assert!(e.retryable && e.rate_limited, "{e:?}");
    assert!(e.message.contains("2000"), "{}", e.message);
    assert!(e.request_id.is_some(), "no trace id kept");
    assert_eq!(fake.max_active_seen(), 10);

    // Queued with progress 0, from the task's own key only.
    match tripo.poll(&c, &ids[0]).await.unwrap() {
        PollStatus::Pending { progress, .. } => assert!(progress.is_some()),
        other => panic!("{other:?}"),
    }
    let other = ctx(&fake, &fake.add_key());
    let e = tripo.poll(&other, &ids[0]).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::NotFound);
    let e = tripo
        .poll(&ctx(&fake, "tsk_not-a-known-key"), &ids[0])
        .await
        .unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Auth);
    assert!(e.message.contains("1002"), "{}", e.message);

    let q = tripo.quota(&c).await.unwrap().unwrap();
    assert_eq!(q.remaining, Some(10_000 - 10 * 20));
    assert_eq!(q.detail.as_deref(), Some("balance 9800, frozen 200"));

    fake.set_max_active(None);
    fake.set_balance(5.0);
    let e = tripo.submit(&c, &spec).await.unwrap_err();
    assert_eq!(e.kind, JobErrorKind::InsufficientCredits);
    assert!(!e.retryable);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fake_reports_progress_then_failure_variants() {
    let fake = TripoFake::start().await;
    let tripo = Tripo::new();
    let c = ctx(&fake, &fake.key());
    fake.script_next(TpScript {
        queued: Duration::ZERO,
        running: Duration::from_secs(600),
        outcome: TpOutcome::Succeed,
    });
    let running = tripo.submit(&c, &text_spec("a")).await.unwrap().remote_id;
    match tripo.poll(&c, &running).await.unwrap() {
        PollStatus::Pending { progress, eta } => {
            assert!(
                progress.is_some_and(|p| (1..=99).contains(&p)),
                "{progress:?}"
            );
            assert!(eta.is_some_and(|e| e > Duration::from_secs(500)), "{eta:?}");
        }
        other => panic!("{other:?}"),
    }
    let outcomes = [
        (
            TpOutcome::Failed {
                error_code: 1001,
                error_msg: "generation failed".into(),
            },
            JobErrorKind::Provider,
        ),
        (TpOutcome::Banned, JobErrorKind::ContentPolicy),
        (TpOutcome::Expired, JobErrorKind::Provider),
        (TpOutcome::Cancelled, JobErrorKind::Provider),
    ];
    for (outcome, kind) in outcomes {
        fake.script_next(TpScript {
            queued: Duration::ZERO,
            running: Duration::ZERO,
            outcome,
        });
        let id = tripo.submit(&c, &text_spec("a")).await.unwrap().remote_id;
        match tripo.poll(&c, &id).await.unwrap() {
            PollStatus::Failed(e) => {
                assert_eq!(e.kind, kind, "{}", e.message);
                assert!(!e.retryable);
                assert!(e.request_id.is_some());
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        fake.requests()
            .iter()
            .filter(|r| r.endpoint != Endpoint::Other)
            .count()
            >= 10
    );
}

// ---- through the CLI and the daemon ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_image_and_multiview_jobs_end_with_a_glb_and_a_preview() {
    let fake = TripoFake::start().await;
    // Uploads must find their way to /upload/sts.
    fake.set_upload_404(true);
    let home = Home::with_tripo(&fake, "");
    let dir = tempfile::tempdir().unwrap();
    let image = write_png(dir.path(), "chair.png", 64, 64);
    let front = write_png(dir.path(), "front.png", 48, 64);
    let left = write_png(dir.path(), "left.png", 48, 64);

    let text = submit(&home, &["--prompt", "a ceramic teapot"]).await;
    let img = submit(&home, &["--image", &image]).await;
    let front_view = format!("front={front}");
    let left_view = format!("left={left}");
    let multi = submit(&home, &["--view", &front_view, "--view", &left_view]).await;

    for id in [&text, &img, &multi] {
        let job = finished(&home, id).await;
        assert_model_and_preview(&job);
        assert_eq!(job["model"], "v2.5-20250123");
    }
    let tasks = fake.task_ids();
    assert_eq!(tasks.len(), 3);
    let types: Vec<Value> = tasks
        .iter()
        .map(|t| fake.task_input(t).unwrap()["type"].clone())
        .collect();
    assert_eq!(
        types,
        [
            json!("text_to_model"),
            json!("image_to_model"),
            json!("multiview_to_model")
        ]
    );
    let mv = fake.task_input(&tasks[2]).unwrap();
    assert_eq!(mv["files"][2], json!({}));
    assert_eq!(mv["files"][3], json!({}));
    // Three images uploaded, all to /upload/sts after the first 404.
    let uploads = fake.requests_to(Endpoint::Upload);
    let sts = uploads.iter().filter(|r| r.path == "/upload/sts").count();
    assert_eq!(
        sts,
        3,
        "{:?}",
        uploads.iter().map(|r| &r.path).collect::<Vec<_>>()
    );
    let sent = std::fs::read(&image).unwrap();
    assert!(fake.uploaded_files().iter().any(|f| f[..] == sent[..]));
    // The key never reached the log.
    assert!(!home.log().contains(&fake.key()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_goes_through_an_sts_upload_where_no_multipart_endpoint_exists() {
    let fake = TripoFake::start().await;
    fake.set_multipart_upload_404(true);
    let home = Home::with_tripo(&fake, "");
    let dir = tempfile::tempdir().unwrap();
    let image = write_png(dir.path(), "vase.png", 80, 60);
    let id = submit(&home, &["--image", &image]).await;
    let job = finished(&home, &id).await;
    assert_model_and_preview(&job);

    let task = fake.task_input(&fake.task_ids()[0]).unwrap();
    assert_eq!(task["type"], "image_to_model");
    let file = &task["file"];
    assert_eq!(file["type"], "png");
    assert_eq!(file["object"]["bucket"], STS_BUCKET);
    let key = file["object"]["key"].as_str().unwrap();
    let stored = fake
        .sts_object(key)
        .expect("the image was PUT under the granted key");
    assert_eq!(stored[..], std::fs::read(&image).unwrap()[..]);
    let paths: Vec<(String, String)> = fake
        .requests_to(Endpoint::Upload)
        .into_iter()
        .map(|r| (r.method, r.path))
        .collect();
    let expected_put = format!("/{STS_BUCKET}/{key}");
    assert_eq!(
        paths
            .iter()
            .map(|(m, p)| (m.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        [
            ("POST", "/upload"),
            ("POST", "/upload/sts"),
            ("POST", "/upload/sts/token"),
            ("PUT", expected_put.as_str()),
        ]
    );
    // The temporary credentials stay out of the log and the job.
    let put = fake.requests_to(Endpoint::Upload).pop().unwrap();
    let token = put.header("x-amz-security-token").unwrap().to_string();
    assert!(!home.log().contains(&token));
    assert!(!job.to_string().contains(&token));

    // The route is remembered: the next image goes straight to the STS token.
    fake.clear_requests();
    let again = submit(&home, &["--image", &image]).await;
    assert_model_and_preview(&finished(&home, &again).await);
    let paths: Vec<String> = fake
        .requests_to(Endpoint::Upload)
        .into_iter()
        .map(|r| r.path)
        .collect();
    assert_eq!(paths.len(), 2, "{paths:?}");
    assert_eq!(paths[0], "/upload/sts/token");
}

/// `(call, request_id)` of every provider request kept on the job.
fn kept_requests(job: &Value) -> Vec<(String, String)> {
    job["provider_requests"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["call"].as_str().unwrap().to_string(),
                        r["request_id"].as_str().unwrap().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_ids_and_the_generation_time_are_kept_on_the_job() {
    let fake = TripoFake::start().await;
    fake.set_duration(Duration::from_millis(1500));
    let home = Home::with_tripo(&fake, "");
    let id = submit(&home, &["--prompt", "a traced teapot"]).await;
    let job = finished(&home, &id).await;
    assert_model_and_preview(&job);
    let task = &fake.task_ids()[0];
    let traces = fake.trace_ids(task);
    let kept = kept_requests(&job);
    // The create's trace id, and the one of the query that saw the task finish (the last).
    assert_eq!(
        kept.first(),
        Some(&("submit".to_string(), traces[0].clone()))
    );
    let last = traces.last().unwrap().clone();
    assert!(
        kept.contains(&("poll".to_string(), last.clone())),
        "{kept:?}"
    );

    // From Tripo's create_time (whole seconds, so up to 1 s early) to the finishing poll.
    let gen_ms = job["generation_ms"]
        .as_u64()
        .expect("generation time recorded");
    let created = Timestamp::parse_rfc3339(job["created_at"].as_str().unwrap()).unwrap();
    let fetching = Timestamp::parse_rfc3339(job["times"]["fetching"].as_str().unwrap()).unwrap();
    let took = fetching.millis_since(created) as u64;
    assert!(
        gen_ms >= 1500 && gen_ms <= took + 1000,
        "{gen_ms} ms, job {took} ms"
    );
    // The outputs say what they are.
    let model = &job["outputs"][0];
    assert_eq!(
        (&model["label"], &model["format"]),
        (&json!("model"), &json!("glb"))
    );

    // The submit's trace id is in the timeline too.
    let mut c = home.client().await;
    let events = c.ok("jobs.events", json!({"id": id})).await;
    let remote = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "remote")
        .expect("a remote event");
    assert_eq!(remote["request_id"], json!(traces[0]));

    // And `genq show` prints them.
    let shown = home.ok_async(&["show", &id]).await;
    assert!(
        shown.contains(&traces[0]) && shown.contains(&last),
        "{shown}"
    );
    assert!(shown.contains("generation:"), "{shown}");
    assert!(shown.contains("model, glb"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_link_is_asked_for_again_and_the_fresh_one_downloaded() {
    let fake = TripoFake::start().await;
    // The reply that first lists the outputs hands out links that have already expired.
    fake.expire_next_links(1);
    let home = Home::with_tripo(&fake, "");
    let id = submit(&home, &["--prompt", "a chair read too late"]).await;
    let job = finished(&home, &id).await;
    assert_model_and_preview(&job);
    let task = &fake.task_ids()[0];
    assert_eq!(fake.links_issued(task), 2, "the task was not queried again");
    // One refused download, then model, pbr model and preview from the fresh links.
    assert_eq!(fake.download_count(task), 4);
    let refused = fake
        .requests_to(Endpoint::Download)
        .into_iter()
        .next()
        .unwrap();
    let first_sig = refused.query.unwrap();
    for o in job["outputs"].as_array().unwrap() {
        let url = o["source_url"].as_str().unwrap();
        assert!(!url.contains(&first_sig), "{url} is the expired link");
    }
    // The re-query's trace id is kept with the others.
    let traces = fake.trace_ids(task);
    let kept = kept_requests(&job);
    assert!(
        kept.contains(&("requery".to_string(), traces.last().unwrap().clone())),
        "{kept:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_that_expire_again_after_the_re_query_fail_as_download() {
    let fake = TripoFake::start().await;
    fake.set_url_ttl(Duration::ZERO);
    let home = Home::with_tripo(&fake, "");
    let id = submit(&home, &["--prompt", "a short-lived chair"]).await;
    let job = finished(&home, &id).await;
    assert_eq!(job["state"], "failed", "{job:#}");
    assert_eq!(job["error"]["kind"], "download");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(msg.contains("403") && msg.contains("expired"), "{msg}");
    let task = &fake.task_ids()[0];
    // Asked again once, and no more.
    assert_eq!(fake.links_issued(task), 2);
    assert_eq!(fake.download_count(task), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eleven_jobs_never_have_more_than_ten_tasks_in_flight() {
    let fake = TripoFake::start().await;
    fake.set_duration(Duration::from_millis(500));
    let home = Home::with_tripo(&fake, "");
    let mut ids = Vec::new();
    for i in 0..11 {
        ids.push(submit(&home, &["--prompt", &format!("chair number {i}")]).await);
    }
    for id in &ids {
        let job = finished(&home, id).await;
        assert_model_and_preview(&job);
    }
    assert_eq!(fake.task_ids().len(), 11);
    // No create was refused for concurrency: the daemon held the 11th back itself.
    assert_eq!(fake.submit_count(), 11);
    assert!(fake.max_active_seen() <= 10, "{}", fake.max_active_seen());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credits_fails_the_job_for_good_with_a_clear_message() {
    let fake = TripoFake::start().await;
    fake.set_balance(0.0);
    let home = Home::with_tripo(&fake, "");
    let id = submit(&home, &["--prompt", "an expensive statue"]).await;
    let job = finished(&home, &id).await;
    assert_eq!(job["state"], "failed");
    assert_eq!(job["error"]["kind"], "insufficient_credits");
    let msg = job["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("not enough credits") && msg.contains("2010"),
        "{msg}"
    );
    assert!(job["error"]["provider_request_id"].is_string(), "{job:#}");
    assert_eq!(fake.submit_count(), 1, "a final error was retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_local_image_is_refused_before_any_upload() {
    let fake = TripoFake::start().await;
    let home = Home::with_tripo(&fake, "");
    let dir = tempfile::tempdir().unwrap();
    let tiny = write_png(dir.path(), "tiny.png", 10, 10);
    let out = home
        .run_async(&["submit", "--provider", "tripo", "--image", &tiny])
        .await;
    assert!(!out.status.success(), "a 10x10 image was accepted");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("10x10") && err.contains("20–6000"), "{err}");

    let fake_jpeg = dir.path().join("photo.jpg");
    std::fs::write(&fake_jpeg, "GIF89a not really a jpeg").unwrap();
    let out = home
        .run_async(&[
            "submit",
            "--provider",
            "tripo",
            "--image",
            &fake_jpeg.display().to_string(),
        ])
        .await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a JPEG, PNG or WebP"), "{err}");
    assert!(fake.requests().is_empty(), "the fake was contacted");
}
