//! Download + verify + hash throughput of a 100 MB GLB from a loopback server, next to
//! `sha256sum` of the same file (the physical limit here). Prints both; asserts nothing.
//! Run: `cargo bench -p genq-daemon --bench fetch_throughput`.

use axum::Router;
use axum::routing::get;
use genq_daemon::outputs::{FetchLimits, fetch};
use genq_protocol::job::OutputRole;
use std::time::{Duration, Instant};

const SIZE: usize = 100 * 1000 * 1000;

fn glb(size: usize) -> Vec<u8> {
    let json = br#"{"asset":{"version":"2.0"}}    "#; // 32 bytes, 4-aligned
    let bin_len = size - 12 - 8 - json.len() - 8;
    let mut out = Vec::with_capacity(size);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(size as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(json);
    out.extend_from_slice(&(bin_len as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    let mut x: u32 = 1;
    out.extend((0..bin_len).map(|_| {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (x >> 24) as u8
    }));
    out
}

fn mb_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / 1e6 / d.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let body = bytes::Bytes::from(glb(SIZE));
    let served = body.clone();
    let app = Router::new().route("/model.glb", get(move || async move { served.clone() }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tmp = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let limits = FetchLimits::default();
    let url = format!("http://{addr}/model.glb");
    let mut best = Duration::MAX;
    let mut path = None;
    for i in 0..3 {
        let dir = tmp.path().join(format!("run{i}"));
        let start = Instant::now();
        let got = fetch(
            &http,
            &url,
            OutputRole::Model,
            Some("glb"),
            &dir,
            0,
            &limits,
            None,
        )
        .await
        .unwrap();
        best = best.min(start.elapsed());
        assert_eq!(got.size as usize, SIZE);
        path = Some(got.path);
    }
    let path = path.unwrap();

    let mut sha_best = Duration::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let out = std::process::Command::new("sha256sum").arg(&path).output();
        let elapsed = start.elapsed();
        match out {
            Ok(o) if o.status.success() => sha_best = sha_best.min(elapsed),
            _ => {
                println!("sha256sum is not available; only the download figure is printed");
                break;
            }
        }
    }
    println!(
        "fetch (download + hash + GLB check + fsync + rename), {} MB: {:.0} ms, {:.0} MB/s",
        SIZE / 1_000_000,
        best.as_secs_f64() * 1e3,
        mb_per_s(SIZE, best)
    );
    if sha_best != Duration::MAX {
        println!(
            "sha256sum of the same file (page cache):     {:.0} ms, {:.0} MB/s",
            sha_best.as_secs_f64() * 1e3,
            mb_per_s(SIZE, sha_best)
        );
    }
}
