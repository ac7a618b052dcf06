//! Downloads against a real HTTP server on loopback: every failure has its kind and leaves
//! nothing under a final name; good PNG and GLB files arrive hashed, checked and renamed.

use axum::Router;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use genq_daemon::outputs::{
    self, ExpectedOutput, FetchLimits, OutputError, fetch, verify_existing,
};
use genq_protocol::job::OutputRole;
use genq_protocol::{Job, JobErrorKind, JobId, JobKind, JobSpec, JobState, Timestamp};
use std::io::Cursor;
use std::path::Path;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn png_bytes(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8, y as u8, 7]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

fn glb_bytes() -> Vec<u8> {
    let mut json = br#"{"asset":{"version":"2.0"},"buffers":[{"byteLength":4}]}"#.to_vec();
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let bin = [1u8, 2, 3, 4];
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::new();
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

fn bytes(ct: &'static str, body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, ct)], body).into_response()
}

/// Serves every case; returns the base URL.
async fn server() -> String {
    let app = Router::new()
        .route("/png", get(|| async { bytes("image/png", png_bytes(5, 3)) }))
        .route("/glb", get(|| async { bytes("model/gltf-binary", glb_bytes()) }))
        .route("/expired", get(|| async { (StatusCode::FORBIDDEN, "<Error><Code>AccessDenied</Code></Error>") }))
        .route("/unavailable", get(|| async { (StatusCode::SERVICE_UNAVAILABLE, "busy") }))
        .route(
            "/html",
            get(|| async {
                bytes("image/png", b"<!DOCTYPE html><html><body>Sign in to continue............................</body></html>".to_vec())
            }),
        )
        .route("/gif", get(|| async { bytes("image/png", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec()) }))
        .route(
            "/corrupt-png",
            get(|| async {
                let mut b = png_bytes(64, 64);
                let n = b.len();
                b.truncate(n / 2); // a PNG cut in half, served with a matching length
                bytes("image/png", b)
            }),
        )
        .route(
            "/short-glb",
            get(|| async {
                let mut b = glb_bytes();
                b.truncate(b.len() - 4);
                bytes("model/gltf-binary", b)
            }),
        )
        .route("/big", get(|| async { bytes("image/png", vec![0x89; 3 * 1024 * 1024]) }))
        .route(
            "/big-stream",
            get(|| async {
                // No Content-Length: the cap must stop the stream itself.
                let chunk = bytes::Bytes::from(vec![0u8; 64 * 1024]);
                let mut first = png_bytes(2, 2);
                first.truncate(16);
                let head = futures::stream::once(async move { Ok::<_, std::io::Error>(bytes::Bytes::from(first)) });
                let rest = futures::stream::repeat(chunk).map(Ok::<_, std::io::Error>);
                Response::new(Body::from_stream(futures::StreamExt::chain(head, rest)))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                // Headers at once, then a body that never comes.
                let s = futures::stream::once(async { Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"\x89PNG")) })
                    .chain(futures::stream::pending());
                Response::new(Body::from_stream(s))
            }),
        )
        .route(
            "/to-ftp",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "ftp://127.0.0.1/x.png")]) }),
        )
        .route(
            "/to-file",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "file:///etc/passwd")]) }),
        )
        .route("/to-png", get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/png")]) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

use futures::StreamExt;

/// A server that announces more bytes than it sends, then closes the connection.
async fn truncating_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                let body = png_bytes(8, 8);
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len() + 1000
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&body).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/truncated.png")
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().unwrap()
}

fn limits() -> FetchLimits {
    FetchLimits {
        max_bytes: 1024 * 1024,
        timeout: Duration::from_secs(20),
        spool: None,
    }
}

/// Every entry in `dir` (hidden ones included).
fn entries(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

async fn fails(url: &str, role: OutputRole, limits: &FetchLimits) -> OutputError {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("job");
    let err = fetch(&client(), url, role, None, &dir, 0, limits, None)
        .await
        .expect_err("the download should fail");
    assert!(entries(&dir).is_empty(), "{url}: left {:?}", entries(&dir));
    err
}

#[tokio::test]
async fn expired_link_is_a_download_error_saying_so() {
    let base = server().await;
    let e = fails(
        &format!("{base}/expired?Signature=abc&OSSAccessKeyId=LTAIkey"),
        OutputRole::Image,
        &limits(),
    )
    .await;
    assert_eq!(e.kind, JobErrorKind::Download);
    assert!(!e.retryable);
    assert!(
        e.message.contains("403") && e.message.contains("expired"),
        "{}",
        e.message
    );
    assert!(
        !e.message.contains("Signature") && !e.message.contains("LTAIkey"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn server_errors_are_retryable() {
    let base = server().await;
    let e = fails(&format!("{base}/unavailable"), OutputRole::Image, &limits()).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Download, true));
    assert!(e.message.contains("503"), "{}", e.message);
}

#[tokio::test]
async fn html_instead_of_an_image_is_named() {
    let base = server().await;
    let e = fails(&format!("{base}/html"), OutputRole::Image, &limits()).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Verify, false));
    assert!(e.message.contains("HTML page"), "{}", e.message);
}

#[tokio::test]
async fn wrong_magic_is_a_verify_error() {
    let base = server().await;
    let e = fails(&format!("{base}/gif"), OutputRole::Image, &limits()).await;
    assert_eq!(e.kind, JobErrorKind::Verify);
    assert!(e.message.contains("GIF"), "{}", e.message);
    // A PNG where a model was expected.
    let e = fails(&format!("{base}/png"), OutputRole::Model, &limits()).await;
    assert_eq!(e.kind, JobErrorKind::Verify);
    assert!(
        e.message.contains("GLB") && e.message.contains("PNG"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn undecodable_image_and_short_glb_fail_verification() {
    let base = server().await;
    let e = fails(&format!("{base}/corrupt-png"), OutputRole::Image, &limits()).await;
    assert_eq!(e.kind, JobErrorKind::Verify);
    assert!(e.message.contains("does not decode"), "{}", e.message);
    let e = fails(&format!("{base}/short-glb"), OutputRole::Model, &limits()).await;
    assert_eq!(e.kind, JobErrorKind::Verify);
    assert!(e.message.contains("declares"), "{}", e.message);
}

#[tokio::test]
async fn truncated_body_is_a_retryable_download_error() {
    let url = truncating_server().await;
    let e = fails(&url, OutputRole::Image, &limits()).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Download, true));
    assert!(e.message.contains("truncated"), "{}", e.message);
}

#[tokio::test]
async fn oversize_is_refused_by_length_and_while_streaming() {
    let base = server().await;
    let e = fails(&format!("{base}/big"), OutputRole::Image, &limits()).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Download, false));
    assert!(e.message.contains("larger than"), "{}", e.message);
    let e = fails(&format!("{base}/big-stream"), OutputRole::Image, &limits()).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Download, false));
    assert!(
        e.message.contains("larger than") && e.message.contains("stopped"),
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_server_that_stalls_hits_the_timeout() {
    let base = server().await;
    let l = FetchLimits {
        timeout: Duration::from_millis(500),
        ..limits()
    };
    let e = fails(&format!("{base}/slow"), OutputRole::Image, &l).await;
    assert_eq!((e.kind, e.retryable), (JobErrorKind::Download, true));
    assert!(e.message.contains("did not finish"), "{}", e.message);
}

#[tokio::test]
async fn only_http_urls_and_redirects_are_followed() {
    let base = server().await;
    for path in ["to-ftp", "to-file"] {
        let e = fails(&format!("{base}/{path}"), OutputRole::Image, &limits()).await;
        assert_eq!(
            (e.kind, e.retryable),
            (JobErrorKind::Download, false),
            "{path}"
        );
        assert!(
            e.message.contains("not http or https"),
            "{path}: {}",
            e.message
        );
    }
    let e = fails("file:///etc/passwd", OutputRole::Image, &limits()).await;
    assert_eq!(e.kind, JobErrorKind::Download);
    // A client that does not follow redirects gets the same answer.
    let tmp = tempfile::tempdir().unwrap();
    let no_follow = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let e = fetch(
        &no_follow,
        &format!("{base}/to-ftp"),
        OutputRole::Image,
        None,
        tmp.path(),
        0,
        &limits(),
        None,
    )
    .await
    .unwrap_err();
    assert!(e.message.contains("ftp:"), "{}", e.message);
    // An http redirect is fine.
    let got = fetch(
        &client(),
        &format!("{base}/to-png"),
        OutputRole::Image,
        None,
        tmp.path(),
        1,
        &limits(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got.path, tmp.path().join("1.png"));
}

#[tokio::test]
async fn a_png_arrives_hashed_checked_and_named_by_its_bytes() {
    let base = server().await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("2025").join("11").join("job");
    // The URL says .jpg; the name follows the bytes.
    let got = fetch(
        &client(),
        &format!("{base}/png?x=1.jpg"),
        OutputRole::Image,
        Some("jpg"),
        &dir,
        3,
        &limits(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got.path, dir.join("3.png"));
    assert_eq!(got.dims, Some((5, 3)));
    assert_eq!(got.mime, "image/png");
    let on_disk = std::fs::read(&got.path).unwrap();
    assert_eq!(on_disk, png_bytes(5, 3));
    assert_eq!(got.size, on_disk.len() as u64);
    assert_eq!(got.sha256, outputs::hash_file(&got.path).unwrap().0);
    assert_eq!(entries(&dir), vec!["3.png".to_string()]);

    // After a restart: the recorded file checks out; a damaged one does not.
    let expected = ExpectedOutput {
        sha256: Some(got.sha256.clone()),
        size: Some(got.size),
    };
    let again = verify_existing(&got.path, OutputRole::Image, None, &expected)
        .await
        .unwrap();
    assert_eq!(again, got);
    let mut damaged = on_disk.clone();
    let last = damaged.len() - 20;
    damaged[last] ^= 0xff;
    std::fs::write(&got.path, &damaged).unwrap();
    let e = verify_existing(&got.path, OutputRole::Image, None, &expected)
        .await
        .unwrap_err();
    assert_eq!(e.kind, JobErrorKind::Verify);
    std::fs::remove_file(&got.path).unwrap();
    let e = verify_existing(&got.path, OutputRole::Image, None, &expected)
        .await
        .unwrap_err();
    assert!(e.message.contains("missing"), "{}", e.message);
}

#[tokio::test]
async fn a_glb_arrives_checked() {
    let base = server().await;
    let tmp = tempfile::tempdir().unwrap();
    let got = fetch(
        &client(),
        &format!("{base}/glb"),
        OutputRole::Model,
        Some("glb"),
        tmp.path(),
        0,
        &limits(),
        None,
    )
    .await
    .unwrap();
    assert_eq!(got.path, tmp.path().join("0.glb"));
    assert_eq!(got.dims, None);
    assert_eq!(got.mime, "model/gltf-binary");
    assert_eq!(std::fs::read(&got.path).unwrap(), glb_bytes());
    assert_eq!(
        outputs::find_existing(tmp.path(), 0),
        Some(got.path.clone())
    );
}

fn job() -> Job {
    let mut spec = JobSpec {
        provider: "modelscope".into(),
        model: Some("Qwen/Qwen-Image".into()),
        prompt: "一只猫 on a roof".into(),
        seed: Some(42),
        ..Default::default()
    };
    spec.params.insert("style".into(), serde_json::json!("ink"));
    spec.params
        .insert("api_key".into(), serde_json::json!("ms-SECRETVALUE"));
    Job {
        id: JobId("01936f2a-7c3b-7d2e-9a51-3c2b1a0f9e8d".into()),
        num: Some(7),
        kind: JobKind::Image,
        provider: "modelscope".into(),
        model: Some("Qwen/Qwen-Image".into()),
        state: JobState::Fetching,
        progress: None,
        params: spec,
        remote_id: Some("task-123".into()),
        created_at: Timestamp::from_unix_millis(1_763_790_240_123),
        updated_at: Timestamp::from_unix_millis(1_763_790_250_000),
        finished_at: None,
        retry_of: None,
        error: None,
        outputs: vec![genq_protocol::Output {
            index: 0,
            path: Some("/x/0.png".into()),
            sha256: None,
            size: None,
            mime: None,
            width: None,
            height: None,
            source_url: Some(
                "https://b.oss-cn-beijing.aliyuncs.com/0.png?OSSAccessKeyId=LTAI&Signature=zz"
                    .into(),
            ),
            uploads: vec![],
            label: None,
            format: None,
        }],
        times: Default::default(),
        idempotency_key: None,
        generation_ms: None,
        provider_requests: Vec::new(),
    }
}

#[tokio::test]
async fn png_outputs_carry_the_parameters_and_params_json_sits_beside_them() {
    let base = server().await;
    let tmp = tempfile::tempdir().unwrap();
    let job = job();
    let params = outputs::png_params_json(&job);
    let got = fetch(
        &client(),
        &format!("{base}/png"),
        OutputRole::Image,
        None,
        tmp.path(),
        0,
        &limits(),
        Some(&params),
    )
    .await
    .unwrap();
    // The recorded hash and size are those of the file with the chunk.
    assert_eq!(got.sha256, outputs::hash_file(&got.path).unwrap().0);
    assert_eq!(got.size, std::fs::metadata(&got.path).unwrap().len());
    let text = outputs::read_png_params(&got.path)
        .unwrap()
        .expect("a genq tEXt chunk");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["params"]["prompt"], "一只猫 on a roof");
    assert_eq!(v["job"], job.id.as_str());
    assert!(!text.contains("SECRETVALUE"));
    assert_eq!(image::open(&got.path).unwrap().width(), 5);
    assert_eq!(entries(tmp.path()), vec!["0.png".to_string()]);

    let p = outputs::write_params_json(tmp.path(), &job).unwrap();
    let written = std::fs::read_to_string(&p).unwrap();
    let v: serde_json::Value = serde_json::from_str(&written).unwrap();
    assert_eq!(v["remote_id"], "task-123");
    assert_eq!(v["provider"], "modelscope");
    assert_eq!(v["params"]["params"]["style"], "ink");
    assert_eq!(
        v["outputs"][0]["source_url"],
        "https://b.oss-cn-beijing.aliyuncs.com/0.png"
    );
    assert!(
        !written.contains("SECRETVALUE") && !written.contains("LTAI"),
        "{written}"
    );
}

#[test]
fn leftovers_of_a_killed_download_are_removed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(".0.123.00ff.part"), b"half").unwrap();
    std::fs::write(tmp.path().join("1.png"), b"kept").unwrap();
    assert_eq!(outputs::remove_partials(tmp.path()).unwrap(), 1);
    assert_eq!(entries(tmp.path()), vec!["1.png".to_string()]);
}
