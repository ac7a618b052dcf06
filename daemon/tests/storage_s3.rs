//! Storage targets against a real S3-compatible server (moto, started here) and a real
//! directory. The moto binary comes from `GENQ_MOTO_SERVER`, else
//! `<workspace>/.venv-s3/bin/moto_server`; install it with
//! `python3 -m venv .venv-s3 && .venv-s3/bin/pip install "moto[s3]" flask flask-cors`.
//! Without it the S3 tests say so loudly and pass, unless `CI` is set.

use genq_daemon::config::StorageSection;
use genq_daemon::outputs::hash_file;
use genq_daemon::outputs::storage::{BuildOptions, KeyContext, StorageTarget};
use genq_protocol::{JobId, Timestamp};
use object_store::client::{DnsFuture, DnsResolver};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCESS: &str = "AKIDGENQTEST";
const SECRET: &str = "genq-test-secret-value";

struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_path() -> PathBuf {
    match std::env::var_os("GENQ_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(".venv-s3/bin/moto_server"),
    }
}

/// Starts moto on a free port and waits until it answers; `None` (after a loud message)
/// when it is not installed and `CI` is unset.
async fn start_moto() -> Option<Moto> {
    let path = moto_path();
    if !path.exists() {
        let msg = format!(
            "moto_server not found at {} (set GENQ_MOTO_SERVER, or run: python3 -m venv .venv-s3 \
             && .venv-s3/bin/pip install \"moto[s3]\" flask flask-cors)",
            path.display()
        );
        if std::env::var_os("CI").is_some() {
            panic!("{msg}");
        }
        eprintln!("\n!!!!!!!! SKIPPING S3 STORAGE TEST: {msg} !!!!!!!!\n");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto { child, port };
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http
            .get(format!("http://127.0.0.1:{port}/moto-api/"))
            .send()
            .await
            && r.status().is_success()
        {
            return Some(moto);
        }
        assert!(
            Instant::now() < deadline,
            "moto_server did not start within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

async fn create_bucket(port: u16, bucket: &str) {
    let r = client()
        .put(format!("http://127.0.0.1:{port}/{bucket}"))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "creating bucket: {}", r.status());
}

fn s3_section(
    endpoint: String,
    bucket: &str,
    virtual_hosted: bool,
    acl: Option<&str>,
) -> StorageSection {
    StorageSection::S3 {
        endpoint,
        region: Some("us-east-1".into()),
        bucket: bucket.into(),
        virtual_hosted,
        access_key_env: Some("TEST_AK".into()),
        secret_key_env: Some("TEST_SK".into()),
        access_key_cmd: None,
        secret_key_cmd: None,
        acl: acl.map(str::to_string),
        acl_header: None,
        key_template: None,
        public_url: None,
    }
}

fn env(k: &str) -> Option<String> {
    match k {
        "TEST_AK" => Some(ACCESS.into()),
        "TEST_SK" => Some(SECRET.into()),
        _ => None,
    }
}

#[derive(Debug)]
struct Loopback;

impl DnsResolver for Loopback {
    fn resolve(&self, _host: &str) -> DnsFuture {
        Box::pin(async { Ok(vec![IpAddr::V4(Ipv4Addr::LOCALHOST)]) })
    }
}

fn target(section: &StorageSection, resolver: bool) -> StorageTarget {
    let options = BuildOptions {
        dns_resolver: resolver.then(|| Arc::new(Loopback) as Arc<dyn DnsResolver>),
        max_retries: Some(0),
    };
    StorageTarget::from_config_with("test", section, &env, &options).unwrap()
}

/// A small PNG file and its key context.
fn output(dir: &Path, seed: u8) -> (PathBuf, KeyContext) {
    let path = dir.join(format!("{seed}.png"));
    image::RgbImage::from_pixel(4, 4, image::Rgb([seed, 1, 2]))
        .save(&path)
        .unwrap();
    let (sha256, _) = hash_file(&path).unwrap();
    let ctx = KeyContext {
        sha256,
        job: JobId("01936f2a-7c3b-7d2e-9a51-3c2b1a0f9e8d".into()),
        index: 0,
        ext: "png".into(),
        created_at: Timestamp::from_unix_millis(1_763_790_240_123),
        provider: "modelscope".into(),
        mime: "image/png".into(),
    };
    (path, ctx)
}

#[tokio::test]
async fn s3_upload_sends_bytes_type_and_acl_and_skips_a_repeat() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let port = moto.port;
    create_bucket(port, "genq-out").await;
    let tmp = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{port}");

    let t = target(
        &s3_section(endpoint.clone(), "genq-out", false, Some("public-read")),
        false,
    );
    let (file, ctx) = output(tmp.path(), 1);
    let first = t.upload_detailed(&file, &ctx).await.unwrap();
    assert!(!first.skipped);
    assert_eq!(
        first.key,
        format!("202511/{}_{}_0.png", &ctx.sha256[..16], ctx.job)
    );
    assert_eq!(first.url, format!("{endpoint}/genq-out/{}", first.key));

    let got = client().get(&first.url).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        std::fs::read(&file).unwrap().as_slice()
    );

    let acl = client()
        .get(format!("{}?acl", first.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(acl.contains("AllUsers") && acl.contains("READ"), "{acl}");

    let again = t.upload_detailed(&file, &ctx).await.unwrap();
    assert!(again.skipped, "the identical object should count as done");
    assert_eq!(again.url, first.url);

    // Without an ACL the object stays private (so the check above means something).
    let private = target(
        &s3_section(endpoint.clone(), "genq-out", false, None),
        false,
    );
    let (file2, ctx2) = output(tmp.path(), 2);
    let url2 = private.upload(&file2, &ctx2).await.unwrap();
    let acl = client()
        .get(format!("{url2}?acl"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!acl.contains("AllUsers"), "{acl}");
}

#[tokio::test]
async fn a_missing_bucket_is_named_and_no_secret_leaks() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let t = target(
        &s3_section(
            format!("http://127.0.0.1:{}", moto.port),
            "no-such-bucket",
            false,
            None,
        ),
        false,
    );
    let (file, ctx) = output(tmp.path(), 3);
    let e = t.upload(&file, &ctx).await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("no-such-bucket") && text.contains("does not exist"),
        "{text}"
    );
    assert!(text.contains("storage target test"), "{text}");
    assert!(!e.retryable);
    assert!(!text.contains(SECRET) && !text.contains(ACCESS), "{text}");
}

#[tokio::test]
async fn virtual_hosted_requests_put_the_bucket_in_the_host() {
    let Some(moto) = start_moto().await else {
        return;
    };
    let port = moto.port;
    create_bucket(port, "vbucket").await;
    let tmp = tempfile::tempdir().unwrap();
    // `vbucket.localhost` does not resolve here: the resolver maps it to loopback, and moto
    // reads the bucket from the Host header.
    let endpoint = format!("http://vbucket.localhost:{port}");
    let t = target(
        &s3_section(endpoint.clone(), "vbucket", true, Some("public-read")),
        true,
    );
    let (file, ctx) = output(tmp.path(), 4);
    let up = t.upload_detailed(&file, &ctx).await.unwrap();
    assert_eq!(up.url, format!("{endpoint}/{}", up.key));
    // Path-style read on the plain address finds it in that bucket.
    let got = client()
        .get(format!("http://127.0.0.1:{port}/vbucket/{}", up.key))
        .send()
        .await
        .unwrap();
    assert!(got.status().is_success(), "{}", got.status());
    assert_eq!(
        got.bytes().await.unwrap().as_ref(),
        std::fs::read(&file).unwrap().as_slice()
    );
}

#[tokio::test]
async fn dir_target_copies_with_the_same_key_layout() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("archive");
    let section = StorageSection::Dir {
        path: root.clone(),
        key_template: None,
        public_url: Some("https://files.example.com/genq".into()),
    };
    let t =
        StorageTarget::from_config_with("arch", &section, &env, &BuildOptions::default()).unwrap();
    let (file, ctx) = output(tmp.path(), 5);
    let up = t.upload_detailed(&file, &ctx).await.unwrap();
    assert!(!up.skipped);
    assert_eq!(up.url, format!("https://files.example.com/genq/{}", up.key));
    assert_eq!(
        std::fs::read(root.join(&up.key)).unwrap(),
        std::fs::read(&file).unwrap()
    );
    assert!(t.upload_detailed(&file, &ctx).await.unwrap().skipped);

    let plain = StorageSection::Dir {
        path: root.clone(),
        key_template: Some("{job8}/{n}-{sha256}.{ext}".into()),
        public_url: None,
    };
    let t =
        StorageTarget::from_config_with("arch", &plain, &env, &BuildOptions::default()).unwrap();
    let url = t.upload(&file, &ctx).await.unwrap();
    assert_eq!(
        url,
        format!("file://{}/01936f2a/0-{}.png", root.display(), ctx.sha256)
    );
    // No temporary files left behind.
    let names: Vec<_> = std::fs::read_dir(root.join("01936f2a"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
}
